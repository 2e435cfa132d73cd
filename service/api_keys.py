"""API keys: created by the command line, stored as a SHA-256 hash, looked up on each call.

A key is 32 random bytes (``secrets.token_urlsafe``) behind a readable prefix; with that much
entropy a plain SHA-256 is the right hash (a slow password hash would only slow every call).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
from collections.abc import Iterable

from sqlmodel import Session, select

from service import audit
from service.domain.access import Principal, Role
from service.domain.errors import InvalidIdentifier, Issue, ValidationFailed
from service.domain.identifiers import REGIONS, GalisRef, Siret
from service.models import ApiKey

KEY_PREFIX = "esms_"


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
    actor: Principal | None = None,
) -> tuple[ApiKey, str]:
    """Store a new key for ``role`` and its scope; return the row and the secret (shown once)."""
    issues: list[Issue] = []
    refs: list[str] = []
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
    key = ApiKey(key_hash=hash_key(secret), prefix=secret[:12], role=role.value, region_code=region_code,
                 siret=siret, galis_refs=sorted(set(refs)), label=label)
    session.add(key)
    session.flush()
    assert key.id is not None
    audit.record(session, actor or audit.OPERATOR, "api_key_created", "api_key", str(key.id), payload={
        "role": key.role, "prefix": key.prefix, "region_code": key.region_code, "siret": key.siret,
        "galis_refs": key.galis_refs, "label": key.label})
    return key, secret


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


def find_principal(session: Session, key_hash: str) -> Principal | None:
    key = session.exec(select(ApiKey).where(ApiKey.key_hash == key_hash)).first()
    return principal_of(key) if key else None


class PrincipalCache:
    """Verified keys kept for a few seconds, so most calls need no database read to authenticate."""

    def __init__(self, ttl_seconds: float, max_entries: int = 10_000) -> None:
        self._ttl = ttl_seconds
        self._max = max_entries
        self._entries: dict[str, tuple[float, Principal]] = {}
        self._lock = threading.Lock()

    def get(self, key_hash: str) -> Principal | None:
        entry = self._entries.get(key_hash)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, key_hash: str, principal: Principal) -> None:
        if self._ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= self._max:
                self._entries.clear()
            self._entries[key_hash] = (time.monotonic() + self._ttl, principal)
