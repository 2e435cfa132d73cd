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
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from service.audit import trail as audit
from service.domain import access
from service.domain.access import ROLE_OF_KIND, Kind, Principal, Role, standing
from service.domain.errors import Conflict, InvalidIdentifier, Issue, NotFound, ValidationFailed
from service.domain.identifiers import REGIONS, GalisRef, Siret
from service.kit.pagination import Key, Keyset, PageRequest
from service.models import API_KEY_TABLE, ORGANISATION_TABLE, ApiKey, Mandate, Organisation, iso_z, utcnow
from service.organisations import directory
from service.scope import ORGANISATION_SCOPE, acting_for, mandated_refs

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
    role: Role | None = None,
    region_code: str | None = None,
    siret: str | None = None,
    galis_refs: list[str] | None = None,
    label: str = "",
    expires_on: date | None = None,
    today: date | None = None,
    actor: Principal | None = None,
    organisation_id: int | None = None,
    manager: bool = False,
    secret: str | None = None,
) -> tuple[ApiKey, str]:
    """Store a new key and return the row and the secret (shown once).

    The key belongs to ``organisation_id``, or to the organisation its role and scope name,
    found or made: the administration, the CNSA, the ARS of ``region_code``, the porteur of
    ``siret``; a vendor key without organisation gets an éditeur of its own named after its label.
    ``galis_refs`` become mandates of the éditeur (granted by ``actor``). ``secret`` is drawn
    here unless given (the demo keeps its keys from one run to the next)."""
    actor = actor or audit.OPERATOR
    org = session.get(Organisation, organisation_id) if organisation_id is not None else None
    if organisation_id is not None and org is None:
        raise ValidationFailed([Issue(code="organisation_not_found", field="organisation",
                                      message=f"Organisation {organisation_id} introuvable.")])
    if org is not None:
        kind_role = ROLE_OF_KIND[Kind(org.kind)]
        if role is not None and role is not kind_role:
            raise ValidationFailed([Issue(code="scope_not_allowed", field="role",
                                          message=f"L'organisation {org.id} ({org.kind}) agit avec le rôle "
                                                  f"{kind_role.value}, pas {role.value}.")])
        role = kind_role
    if role is None:
        raise ValidationFailed([Issue(code="role_required", field="role",
                                      message="Indiquez le rôle de la clé ou son organisation.")])
    refs = _checked_scope(role, region_code, siret, galis_refs, expires_on, today, org)
    if org is None:
        org = _organisation_for(session, role, region_code=region_code, siret=siret, label=label)
    assert org.id is not None
    held = mandated_refs(session.connection(), org.id, today or date.min) if refs else frozenset()
    for ref in refs:
        if ref not in held:
            mandate = Mandate(id=str(uuid.uuid4()), galis_ref=ref, editeur_id=org.id,
                              granted_by_key_id=actor.key_id or None, granted_by_person_id=actor.person_id)
            session.add(mandate)
            audit.record(session, actor, "mandate_granted", "mandate", mandate.id,
                         payload={"editeur_id": org.id, "editeur": org.name, "galis_ref": ref}, galis_ref=ref)

    while secret is None or session.exec(select(ApiKey.id).where(ApiKey.prefix == secret[:PREFIX_LENGTH])).first():
        secret = KEY_PREFIX + secrets.token_urlsafe(32)  # the prefix names the key: it must be unique
    return register_api_key(session, secret, organisation=org, label=label, expires_on=expires_on, actor=actor,
                            manager=manager), secret


def _checked_scope(role: Role, region_code: str | None, siret: str | None, galis_refs: list[str] | None,
                   expires_on: date | None, today: date | None, org: Organisation | None) -> list[str]:
    """The scope options as the command line gives them, checked against the role; the
    references of a vendor key."""
    issues: list[Issue] = []
    refs: list[str] = []
    if expires_on is not None and today is not None and expires_on <= today:
        issues.append(Issue(code="expiry_in_past", field="expires_on",
                            message=f"La date d'expiration ({expires_on.isoformat()}) doit être postérieure à "
                                    f"aujourd'hui ({today.isoformat()})."))
    if org is not None:
        if region_code is not None or siret is not None:
            issues.append(Issue(code="scope_not_allowed", field="organisation",
                                message=f"Le périmètre d'une clé est celui de son organisation ({org.id}, "
                                        f"« {org.name} ») : --region et --siret ne s'y ajoutent pas."))
    elif role is Role.ARS_REVIEWER and region_code not in REGIONS:
        issues.append(Issue(code="region_required",
                            message=f"Une clé ARS exige un code région parmi {', '.join(sorted(REGIONS))}.",
                            field="region"))
    if role is not Role.ARS_REVIEWER and region_code is not None:
        issues.append(Issue(code="scope_not_allowed", message="--region ne s'applique qu'au rôle ars_reviewer.",
                            field="region"))
    if role is Role.PORTEUR and org is None:
        try:
            Siret.parse(siret)
        except InvalidIdentifier as exc:
            issues.append(Issue(code=exc.code, message=exc.message, field="siret"))
    elif role is not Role.PORTEUR and siret is not None:
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
    return sorted(set(refs))


def _organisation_for(session: Session, role: Role, *, region_code: str | None, siret: str | None,
                      label: str) -> Organisation:
    if role is Role.ADMIN:
        return directory.administration(session)
    if role is Role.CNSA_AUDITOR:
        return directory.cnsa(session)
    if role is Role.ARS_REVIEWER:
        assert region_code is not None
        return directory.ars_of(session, region_code)
    if role is Role.PORTEUR:
        assert siret is not None
        return directory.porteur_of(session, Siret.parse(siret).value)
    org = Organisation(kind=Kind.EDITEUR.value, name=label or "Éditeur sans nom")
    session.add(org)
    session.flush()
    return org


def register_api_key(session: Session, secret: str, *, organisation: Organisation, label: str = "",
                     expires_on: date | None = None, actor: Principal | None = None,
                     manager: bool = False) -> ApiKey:
    """Store the hash of ``secret`` (already checked) as a key of ``organisation``, audited."""
    assert organisation.id is not None
    role = ROLE_OF_KIND[Kind(organisation.kind)]
    key = ApiKey(key_hash=hash_key(secret), prefix=secret[:PREFIX_LENGTH], organisation_id=organisation.id,
                 manager=manager, role=role.value, region_code=organisation.region_code,
                 siret=organisation.siret if role is Role.PORTEUR else None, label=label, expires_on=expires_on)
    session.add(key)
    session.flush()
    assert key.id is not None
    audit.record(session, actor or audit.OPERATOR, "api_key_created", "api_key", str(key.id), payload={
        "role": key.role, "prefix": key.prefix, "organisation_id": organisation.id, "manager": manager,
        "region_code": key.region_code, "siret": key.siret, "label": key.label,
        "expires_on": expires_on.isoformat() if expires_on else None})
    return key


def _managed_key(session: Session, actor: Principal, prefix: str, what: str) -> ApiKey:
    """The live key named by ``prefix``, for an administrator or a manager of its organisation;
    404 when none or out of sight, 403 for a member, 409 when already revoked."""
    key = session.exec(select(ApiKey).where(ApiKey.prefix == prefix).with_for_update()).first()
    if key is None or not (actor.role is Role.ADMIN or actor.organisation_id == key.organisation_id):
        raise NotFound(f"Aucune clé d'API de préfixe « {prefix} ».", code="api_key_not_found")
    access.require_manages(actor, key.organisation_id, what)
    if key.revoked_at is not None:
        raise Conflict(f"La clé {prefix} est révoquée depuis le {iso_z(key.revoked_at)}.",
                       code="api_key_already_revoked")
    return key


def revoke_api_key(session: Session, actor: Principal, prefix: str) -> dict[str, Any]:
    """Revoke the key named by ``prefix`` (an administrator, or a manager of the key's organisation)."""
    key = _managed_key(session, actor, prefix, "révoquer les clés d'API")
    key.revoked_at = utcnow()
    session.add(key)
    session.flush()
    audit.record(session, actor, "api_key_revoked", "api_key", str(key.id), payload={
        "prefix": key.prefix, "role": key.role, "label": key.label, "organisation_id": key.organisation_id})
    return key_view(key, session.get(Organisation, key.organisation_id), today=None)


#: How long a rotated key may go on working beside its successor, at most.
LONGEST_OVERLAP_DAYS = 31


def rotate_api_key(session: Session, actor: Principal, prefix: str, *, old_expires_on: date | None,
                   expires_on: date | None, today: date) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """A new key in place of ``prefix``: same organisation, label and manager flag. The old key is
    revoked at once, or refused from ``old_expires_on`` (at most a month ahead), so that it can be
    replaced where it is used. The new key's view and secret (shown once), and the old key's view."""
    key = _managed_key(session, actor, prefix, "renouveler les clés d'API")
    if old_expires_on is not None and not today < old_expires_on <= today + timedelta(days=LONGEST_OVERLAP_DAYS):
        raise ValidationFailed([Issue(code="old_expires_on_invalid", field="old_expires_on", message=(
            f"L'ancienne clé peut rester valable {LONGEST_OVERLAP_DAYS} jours au plus : indiquez un jour après "
            f"aujourd'hui ({today.isoformat()}) et au plus tard le {today + timedelta(days=LONGEST_OVERLAP_DAYS)}."))])
    new, secret = create_api_key(session, organisation_id=key.organisation_id, label=key.label, manager=key.manager,
                                 expires_on=expires_on, today=today, actor=actor)
    if old_expires_on is None:
        key.revoked_at = utcnow()
    else:
        key.expires_on = min(old_expires_on, key.expires_on) if key.expires_on else old_expires_on
    session.add(key)
    session.flush()
    audit.record(session, actor, "api_key_rotated", "api_key", str(key.id), payload={
        "prefix": key.prefix, "replaced_by": new.prefix, "organisation_id": key.organisation_id,
        "revoked": old_expires_on is None, "expires_on": key.expires_on.isoformat() if key.expires_on else None})
    org = session.get(Organisation, key.organisation_id)
    return key_view(new, org, today=today), secret, key_view(key, org, today=today)


def create_organisation_key(session: Session, actor: Principal, organisation_id: int, *, label: str, manager: bool,
                            expires_on: date | None, today: date) -> tuple[dict[str, Any], str]:
    """A key of the organisation made by one of its managers (or an administrator); its view
    and its secret, shown once."""
    org = directory.managed_organisation(session, actor, organisation_id, "créer des clés d'API")
    key, secret = create_api_key(session, organisation_id=org.id, label=label, manager=manager,
                                 expires_on=expires_on, today=today, actor=actor)
    return key_view(key, org, today=today), secret


def key_status(key: ApiKey, *, today: date | None) -> str:
    return standing(key.revoked_at, key.expires_on, today)


def key_view(key: ApiKey, org: Organisation | None, *, today: date | None) -> dict[str, Any]:
    return {"prefix": key.prefix, "role": key.role, "manager": key.manager,
            "organisation": {"id": org.id, "name": org.name, "kind": org.kind} if org is not None else None,
            "region_code": key.region_code, "siret": key.siret, "label": key.label,
            "created_at": iso_z(key.created_at), "last_used_at": iso_z(key.last_used_at),
            "expires_on": key.expires_on.isoformat() if key.expires_on else None,
            "revoked_at": iso_z(key.revoked_at), "status": key_status(key, today=today)}


_OLDEST_FIRST = Keyset(Key("after", ApiKey.id, int))


def list_api_keys(session: Session, page: PageRequest, *, today: date,
                  organisation_id: int | None = None) -> dict[str, Any]:
    """Every key (of one organisation), oldest first, cursor-paged; never the secret, only its prefix."""
    query = select(ApiKey)
    if organisation_id is not None:
        query = query.where(ApiKey.organisation_id == organisation_id)
    rows, next_cursor = _OLDEST_FIRST.page(list(session.exec(_OLDEST_FIRST.select(query, page))), page,
                                           lambda k: (k.id,))
    orgs = {o.id: o for o in session.exec(select(Organisation).where(
        Organisation.id.in_(sorted({k.organisation_id for k in rows}))))}  # type: ignore[union-attr]
    return {"items": [key_view(k, orgs.get(k.organisation_id), today=today) for k in rows],
            "next_cursor": next_cursor}


def list_organisation_keys(session: Session, principal: Principal, organisation_id: int, page: PageRequest, *,
                           today: date) -> dict[str, Any]:
    """The keys of an organisation, for its managers and administrators (whoever else sees it: 403)."""
    org = directory.managed_organisation(session, principal, organisation_id, "voir les clés d'API")
    return list_api_keys(session, page, today=today, organisation_id=org.id)


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


_KEY_AND_ORGANISATION = (sa.select(API_KEY_TABLE, *ORGANISATION_SCOPE)
                         .join(ORGANISATION_TABLE, ORGANISATION_TABLE.c.id == API_KEY_TABLE.c.organisation_id))
_BY_HASH = _KEY_AND_ORGANISATION.where(API_KEY_TABLE.c.key_hash == sa.bindparam("hash"))
_BY_ID = _KEY_AND_ORGANISATION.where(API_KEY_TABLE.c.id == sa.bindparam("id"))


def _lookup(conn: sa.Connection, row: Any, today: date) -> KeyLookup:
    principal = acting_for(conn, row, today, key_id=row.id, label=row.label, name=row.label or row.prefix,
                           manager=bool(row.manager))
    return KeyLookup(principal, row.revoked_at, row.expires_on, row.last_used_at)


def find_principal(session: Session, key_hash: str, today: date) -> KeyLookup | None:
    """The key of ``key_hash`` with its organisation and, for an éditeur, its mandates in force ``today``."""
    conn = session.connection()
    row = conn.execute(_BY_HASH, {"hash": key_hash}).first()
    return _lookup(conn, row, today) if row is not None else None


def key_by_id(conn: sa.Connection, key_id: int, today: date) -> tuple[KeyLookup, str] | None:
    """The same for a key known by its id, with its prefix (a console session signed in with it)."""
    row = conn.execute(_BY_ID, {"id": key_id}).first()
    return (_lookup(conn, row, today), row.prefix) if row is not None else None


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
