"""API keys: created by the command line, stored as a SHA-256 hash, looked up on each call.

A key is 32 random bytes (``secrets.token_urlsafe``) behind a readable prefix; with that much
entropy a plain SHA-256 is the right hash (a slow password hash would only slow every call).

A key may expire (``expires_on``: the first day it is refused, in the programme's time zone)
and be revoked (by its prefix); both are refused within the principal cache's lifetime.
Creation and revocation are audit events; the last use is kept to the minute.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlmodel import Session, select

from service.audit import trail as audit
from service.domain.access import Principal, Role
from service.domain.errors import Conflict, InvalidIdentifier, Issue, NotFound, ValidationFailed
from service.domain.identifiers import REGIONS, GalisRef, Siret
from service.kit.pagination import Key, Keyset, PageRequest
from service.models import API_KEY_TABLE, ApiKey, iso_z, utcnow

KEY_PREFIX = "esms_"
#: Characters of a key shown at creation and listed: "esms_" and 7 random characters.
PREFIX_LENGTH = 12
PREFIX_PATTERN = r"^esms_[A-Za-z0-9_-]{7}$"
#: The last use of a key is written at most this often per process.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_key(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_api_key(
    session: Session,
    *,
    role: Role,
    region_code: str | None = None,
    siret: str | None = None,
    galis_refs: list[str] | None = None,
    label: str = "",
    expires_on: date | None = None,
    today: date | None = None,
    actor: Principal | None = None,
) -> tuple[ApiKey, str]:
    """Store a new key for ``role`` and its scope; return the row and the secret (shown once)."""
    issues: list[Issue] = []
    refs: list[str] = []
    if expires_on is not None and today is not None and expires_on <= today:
        issues.append(Issue(code="expiry_in_past", field="expires_on",
                            message=f"La date d'expiration ({expires_on.isoformat()}) doit être postérieure à "
                                    f"aujourd'hui ({today.isoformat()})."))
    if role is Role.ARS_REVIEWER and region_code not in REGIONS:
        issues.append(Issue(code="region_required",
                            message=f"Une clé ARS exige un code région parmi {', '.join(sorted(REGIONS))}.",
                            field="region"))
    if role is not Role.ARS_REVIEWER and region_code is not None:
        issues.append(Issue(code="scope_not_allowed", message="--region ne s'applique qu'au rôle ars_reviewer.",
                            field="region"))
    if role is Role.PORTEUR:
        try:
            siret = Siret.parse(siret).value
        except InvalidIdentifier as exc:
            issues.append(Issue(code=exc.code, message=exc.message, field="siret"))
    elif siret is not None:
        issues.append(Issue(code="scope_not_allowed", message="--siret ne s'applique qu'au rôle porteur.",
                            field="siret"))
    if role is Role.VENDOR:
        for ref in galis_refs or []:
            try:
                refs.append(GalisRef.parse(ref).value)
            except InvalidIdentifier as exc:
                issues.append(Issue(code=exc.code, message=exc.message, field="galis_ref"))
    elif galis_refs:
        issues.append(Issue(code="scope_not_allowed", message="--galis-ref ne s'applique qu'au rôle vendor.",
                            field="galis_ref"))
    if issues:
        raise ValidationFailed(issues)

    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    while session.exec(select(ApiKey.id).where(ApiKey.prefix == secret[:PREFIX_LENGTH])).first() is not None:
        secret = KEY_PREFIX + secrets.token_urlsafe(32)  # the prefix names the key: it must be unique
    return register_api_key(session, secret, role=role, region_code=region_code, siret=siret,
                            galis_refs=sorted(set(refs)), label=label, expires_on=expires_on, actor=actor), secret


def register_api_key(session: Session, secret: str, *, role: Role, region_code: str | None = None,
                     siret: str | None = None, galis_refs: list[str] | None = None, label: str = "",
                     expires_on: date | None = None, actor: Principal | None = None) -> ApiKey:
    """Store the hash of ``secret`` (already checked) as a key, audited."""
    key = ApiKey(key_hash=hash_key(secret), prefix=secret[:PREFIX_LENGTH], role=role.value,
                 region_code=region_code, siret=siret, galis_refs=list(galis_refs or []), label=label,
                 expires_on=expires_on)
    session.add(key)
    session.flush()
    assert key.id is not None
    audit.record(session, actor or audit.OPERATOR, "api_key_created", "api_key", str(key.id), payload={
        "role": key.role, "prefix": key.prefix, "region_code": key.region_code, "siret": key.siret,
        "galis_refs": key.galis_refs, "label": key.label,
        "expires_on": expires_on.isoformat() if expires_on else None})
    return key


def revoke_api_key(session: Session, actor: Principal, prefix: str) -> dict[str, Any]:
    """Revoke the key named by ``prefix``; 404 when none, 409 when already revoked."""
    key = session.exec(select(ApiKey).where(ApiKey.prefix == prefix).with_for_update()).first()
    if key is None:
        raise NotFound(f"Aucune clé d'API de préfixe « {prefix} ».", code="api_key_not_found")
    if key.revoked_at is not None:
        raise Conflict(f"La clé {prefix} est révoquée depuis le {iso_z(key.revoked_at)}.",
                       code="api_key_already_revoked")
    key.revoked_at = utcnow()
    session.add(key)
    session.flush()
    audit.record(session, actor, "api_key_revoked", "api_key", str(key.id), payload={
        "prefix": key.prefix, "role": key.role, "label": key.label})
    return key_view(key, today=None)


def standing(revoked_at: datetime | None, expires_on: date | None, today: date | None) -> str:
    """``revoked``, ``expired`` (from its ``expires_on`` day) or ``active``: the one rule of a key's use."""
    if revoked_at is not None:
        return "revoked"
    if expires_on is not None and today is not None and today >= expires_on:
        return "expired"
    return "active"


def key_status(key: ApiKey, *, today: date | None) -> str:
    return standing(key.revoked_at, key.expires_on, today)


def key_view(key: ApiKey, *, today: date | None) -> dict[str, Any]:
    return {"prefix": key.prefix, "role": key.role, "region_code": key.region_code, "siret": key.siret,
            "galis_refs": list(key.galis_refs or []), "label": key.label, "created_at": iso_z(key.created_at),
            "last_used_at": iso_z(key.last_used_at), "expires_on": key.expires_on.isoformat() if key.expires_on
            else None, "revoked_at": iso_z(key.revoked_at), "status": key_status(key, today=today)}


_OLDEST_FIRST = Keyset(Key("after", ApiKey.id, int))


def list_api_keys(session: Session, page: PageRequest, *, today: date) -> dict[str, Any]:
    """Every key, oldest first, cursor-paged; never the secret, only its prefix."""
    rows, next_cursor = _OLDEST_FIRST.page(list(session.exec(_OLDEST_FIRST.select(select(ApiKey), page))), page,
                                           lambda k: (k.id,))
    return {"items": [key_view(k, today=today) for k in rows], "next_cursor": next_cursor}


def key_labels(session: Session, key_ids: Iterable[int | None]) -> dict[int, dict[str, str]]:
    """Role and label of the keys behind ``key_ids`` (who pushed, uploaded, claimed…), in one query."""
    ids = sorted({k for k in key_ids if k})
    if not ids:
        return {}
    return {k.id: {"role": k.role, "label": k.label}  # type: ignore[misc]
            for k in session.exec(select(ApiKey).where(ApiKey.id.in_(ids)))}  # type: ignore[union-attr]


def principal_of(key: ApiKey) -> Principal:
    assert key.id is not None
    return Principal(key_id=key.id, role=Role(key.role), label=key.label, region_code=key.region_code,
                     siret=key.siret, galis_refs=frozenset(key.galis_refs or ()))


@dataclass(frozen=True, slots=True)
class KeyLookup:
    """A stored key as authentication needs it."""

    principal: Principal
    revoked_at: datetime | None
    expires_on: date | None
    last_used_at: datetime | None

    def refusal(self, today: date) -> tuple[str, str] | None:
        """``(code, French message)`` when the key may no longer be used."""
        status = standing(self.revoked_at, self.expires_on, today)
        if status == "revoked":
            return "api_key_revoked", f"Cette clé d'API a été révoquée le {iso_z(self.revoked_at)}."
        if status == "expired":
            return "api_key_expired", f"Cette clé d'API a expiré le {self.expires_on}."
        return None

    def needs_touch(self, now: datetime) -> bool:
        return self.last_used_at is None or now - self.last_used_at >= LAST_USED_RESOLUTION


def find_principal(session: Session, key_hash: str) -> KeyLookup | None:
    key = session.exec(select(ApiKey).where(ApiKey.key_hash == key_hash)).first()
    if key is None:
        return None
    return KeyLookup(principal_of(key), key.revoked_at, key.expires_on, key.last_used_at)


def touch_last_used(session: Session, key_id: int, now: datetime) -> None:
    """Record that the key was used (no audit event: a use changes nothing the key allows)."""
    session.connection().execute(
        API_KEY_TABLE.update().where(API_KEY_TABLE.c.id == key_id)
        .values(last_used_at=now))


class PrincipalCache:
    """Verified keys kept for a few seconds, so most calls need no database read to authenticate."""

    def __init__(self, ttl_seconds: float, max_entries: int = 10_000, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._clock = clock  # seconds, monotonic; a test passes its own to move time on
        self._entries: dict[str, tuple[float, KeyLookup]] = {}
        self._lock = threading.Lock()

    def get(self, key_hash: str) -> KeyLookup | None:
        entry = self._entries.get(key_hash)
        if entry is None or entry[0] < self._clock():
            return None
        return entry[1]

    def put(self, key_hash: str, principal: KeyLookup) -> None:
        if self._ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.clear()
            self._entries[key_hash] = (self._clock() + self._ttl, principal)
