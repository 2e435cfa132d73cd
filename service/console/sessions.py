"""Console sessions: an API key exchanged at sign-in for a server-side session.

The cookie carries 32 random bytes; the table keeps their SHA-256, the key's id and the CSRF
token of the session's forms (the synchronizer-token pattern: each form carries it, a POST
without it changes nothing). The raw API key is read once, at sign-in, and never stored or put
in a cookie. The key is checked again on every page (revoked or expired: the session ends).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from service.access.keys import find_principal, hash_key, principal_of, standing
from service.audit import trail as audit
from service.domain.access import Principal
from service.models import API_KEY_TABLE, CONSOLE_SESSION_TABLE, ApiKey, utcnow

_SESSION = CONSOLE_SESSION_TABLE
_KEY = API_KEY_TABLE

COOKIE = "esms_console"
#: The cookie of the sign-in form's CSRF token, before any session exists (double submit).
SIGN_IN_COOKIE = "esms_console_connexion"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def same_token(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The person behind a console request."""

    principal: Principal
    csrf_token: str
    token_hash: str
    prefix: str


class SignInRefused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def sign_in(session: Session, secret: str, *, today: date, idle: timedelta, longest: timedelta) -> tuple[str, SignedIn]:
    """Open a session for the key ``secret``; the cookie's token and the signed-in person."""
    found = find_principal(session, hash_key(secret.strip())) if secret.strip() else None
    if found is None:
        raise SignInRefused("Clé d'API inconnue : vérifiez-la (elle commence par « esms_ »).")
    refusal = found.refusal(today)
    if refusal is not None:
        raise SignInRefused(refusal[1])
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = utcnow()
    session.connection().execute(sa.insert(_SESSION).values(
        token_hash=token_hash(token), key_id=found.principal.key_id, csrf_token=csrf, created_at=now,
        last_seen_at=now, expires_at=now + longest))
    audit.record(session, found.principal, "console_signed_in", "api_key", str(found.principal.key_id),
                 payload={"idle_minutes": int(idle.total_seconds() // 60)})
    prefix = session.connection().execute(sa.select(_KEY.c.prefix).where(_KEY.c.id == found.principal.key_id)) \
        .scalar_one()
    return token, SignedIn(found.principal, csrf, token_hash(token), prefix)


def signed_in(conn: sa.Connection, token: str | None, *, today: date, idle: timedelta) -> SignedIn | None:
    """The live session of ``token``: not ended, not idle for longer than ``idle``, not past its
    end, its key still usable; ``None`` otherwise."""
    if not token or len(token) > 100:
        return None
    row = conn.execute(sa.select(_SESSION, _KEY).join(_KEY, _KEY.c.id == _SESSION.c.key_id)
                       .where(_SESSION.c.token_hash == token_hash(token))).one_or_none()
    now = utcnow()
    if row is None or row.ended_at is not None or row.expires_at <= now or now - row.last_seen_at > idle:
        return None
    if standing(row.revoked_at, row.expires_on, today) != "active":
        return None
    key = ApiKey(id=row.key_id, key_hash=row.key_hash, prefix=row.prefix, role=row.role, region_code=row.region_code,
                 siret=row.siret, galis_refs=row.galis_refs, label=row.label)
    return SignedIn(principal_of(key), row.csrf_token, row.token_hash, row.prefix)


def needs_touch(conn: sa.Connection, hashed: str, now: datetime, *, every: timedelta) -> bool:
    last = conn.execute(sa.select(_SESSION.c.last_seen_at).where(_SESSION.c.token_hash == hashed)).scalar_one()
    return bool(now - last >= every)


def touch(session: Session, hashed: str, now: datetime) -> None:
    session.connection().execute(sa.update(_SESSION).where(_SESSION.c.token_hash == hashed)
                                 .values(last_seen_at=now))


def sign_out(session: Session, person: SignedIn) -> None:
    session.connection().execute(sa.update(_SESSION).where(_SESSION.c.token_hash == person.token_hash,
                                                           _SESSION.c.ended_at.is_(None))
                                 .values(ended_at=utcnow()))
    audit.record(session, person.principal, "console_signed_out", "api_key", str(person.principal.key_id), payload={})
