"""Console sessions: a person signed in through ProConnect, or an API key exchanged at sign-in,
kept as a server-side session.

The cookie carries 32 random bytes; the table keeps their SHA-256, the key's or the person's id
and the CSRF token of the session's forms (the synchronizer-token pattern: each form carries it,
a POST without it changes nothing). The raw API key is read once, at sign-in, and never stored
or put in a cookie. The key or the person is checked again on every page (a key revoked or
expired, a person deactivated: the session ends).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from service.access.keys import find_principal, hash_key, key_by_id
from service.audit import trail as audit
from service.domain.access import Principal
from service.http.limits import CONSOLE_SESSION_COOKIE
from service.models import API_KEY_TABLE, CONSOLE_SESSION_TABLE, utcnow
from service.organisations.people import person_principal

_SESSION = CONSOLE_SESSION_TABLE
_KEY = API_KEY_TABLE

COOKIE = CONSOLE_SESSION_COOKIE  # FairShare tells sessions apart by it
#: The cookie of the sign-in form's CSRF token, before any session exists (double submit).
SIGN_IN_COOKIE = "esms_console_connexion"


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def same_token(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class SignedIn:
    """The person behind a console request: signed in with a key or through ProConnect."""

    principal: Principal
    csrf_token: str
    token_hash: str
    #: How the pages name who is signed in: « Marie Dupont (ARS Occitanie) », « clé esms_… (CNSA) ».
    display: str
    #: The provider's ID token, for its sign-out (ProConnect sessions only).
    id_token: str | None = None


class SignInRefused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _open(session: Session, principal: Principal, *, key_id: int | None, person_id: int | None,
          id_token: str | None, idle: timedelta, longest: timedelta, display: str,
          how: str) -> tuple[str, SignedIn]:
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    now = utcnow()
    session.connection().execute(sa.insert(_SESSION).values(
        token_hash=token_hash(token), key_id=key_id, person_id=person_id, id_token=id_token, csrf_token=csrf,
        created_at=now, last_seen_at=now, expires_at=now + longest))
    audit.record(session, principal, "console_signed_in", "person" if person_id else "api_key",
                 str(person_id or key_id), payload={"idle_minutes": int(idle.total_seconds() // 60), "by": how})
    return token, SignedIn(principal, csrf, token_hash(token), display, id_token)


def sign_in(session: Session, secret: str, *, today: date, idle: timedelta, longest: timedelta) -> tuple[str, SignedIn]:
    """Open a session for the key ``secret``; the cookie's token and the signed-in person."""
    found = find_principal(session, hash_key(secret.strip()), today) if secret.strip() else None
    if found is None:
        raise SignInRefused("Clé d'API inconnue : vérifiez-la (elle commence par « esms_ »).")
    refusal = found.refusal(today)
    if refusal is not None:
        raise SignInRefused(refusal[1])
    prefix = session.connection().execute(sa.select(_KEY.c.prefix).where(_KEY.c.id == found.principal.key_id)) \
        .scalar_one()
    return _open(session, found.principal, key_id=found.principal.key_id, person_id=None, id_token=None, idle=idle,
                 longest=longest, display=_key_display(prefix, found.principal), how="api_key")


def sign_in_person(session: Session, person_id: int, *, id_token: str, today: date, idle: timedelta,
                   longest: timedelta) -> tuple[str, SignedIn]:
    """Open a session for a person identified by the provider (already linked and active)."""
    principal = person_principal(session.connection(), person_id, today)
    assert principal is not None
    return _open(session, principal, key_id=None, person_id=person_id, id_token=id_token, idle=idle,
                 longest=longest, display=principal.label, how="proconnect")


def _key_display(prefix: str, principal: Principal) -> str:
    return f"clé {prefix} ({principal.organisation_name})"


def signed_in(conn: sa.Connection, token: str | None, *, today: date, idle: timedelta) -> SignedIn | None:
    """The live session of ``token``: not ended, not idle for longer than ``idle``, not past its
    end, its key still usable or its person still active; ``None`` otherwise."""
    if not token or len(token) > 100:
        return None
    row = conn.execute(sa.select(_SESSION).where(_SESSION.c.token_hash == token_hash(token))).one_or_none()
    now = utcnow()
    if row is None or row.ended_at is not None or row.expires_at <= now or now - row.last_seen_at > idle:
        return None
    if row.person_id is not None:
        principal = person_principal(conn, row.person_id, today)
        if principal is None:
            return None
        return SignedIn(principal, row.csrf_token, row.token_hash, principal.label, row.id_token)
    found = key_by_id(conn, row.key_id, today)
    if found is None or found[0].refusal(today) is not None:
        return None
    return SignedIn(found[0].principal, row.csrf_token, row.token_hash, _key_display(found[1], found[0].principal))


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
    principal = person.principal
    audit.record(session, principal, "console_signed_out", "person" if principal.person_id else "api_key",
                 str(principal.person_id or principal.key_id), payload={})
