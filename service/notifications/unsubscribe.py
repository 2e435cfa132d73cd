"""One-click unsubscribe (RFC 8058) from the digests and the optional categories.

A mail written to a person carries ``List-Unsubscribe: <…/console/desabonnement?p=…&c=…&t=…>``
and ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``. The link names the person and the
category, signed with HMAC-SHA256 under a key the service made at its first use and keeps in its
database (``service_secret``): no session, no cookie, nothing else to know. The link is put in the
header when the mail is sent, never in its body (a copy of which goes to the request's thread).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlmodel import Session, select

from service.domain.errors import NotFound
from service.domain.notifications import BY_CODE, Mode, mode_of
from service.kit.mailing import Mailing
from service.models import NotificationPreference, Organisation, Person, ServiceSecret, utcnow

SECRET_NAME = "unsubscribe"
#: The digest is not a category: unsubscribing from it turns off what the person reads daily.
DIGEST = "digest"
PATH = "/console/desabonnement"
_PERSON = re.compile(r"[0-9]{1,9}")


def secret(session: Session) -> bytes:
    """The signing key, made at its first use (when two processes make it at once, the first
    stored wins and the other reads it)."""
    found = session.get(ServiceSecret, SECRET_NAME)
    if found is None:
        try:
            with session.begin_nested():
                session.add(ServiceSecret(name=SECRET_NAME, value=secrets.token_urlsafe(32)))
        except sa.exc.IntegrityError:
            pass  # another process stored it meanwhile
        found = session.get(ServiceSecret, SECRET_NAME, populate_existing=True)
        assert found is not None
    return found.value.encode("ascii")


def _existing_secret(session: Session) -> bytes | None:
    """The key, if a link was ever signed (a check never makes one)."""
    found = session.get(ServiceSecret, SECRET_NAME)
    return found.value.encode("ascii") if found else None


def token(key: bytes, person_id: int, category: str) -> str:
    digest = hmac.new(key, f"{person_id}:{category}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def offered(category: str) -> bool:
    """Whether a mail of ``category`` offers to unsubscribe: digests and optional categories."""
    return category == DIGEST or (category in BY_CODE and not BY_CODE[category].mandatory)


def link(mailing: Mailing, key: bytes, person_id: int, category: str) -> str:
    return mailing.link(f"{PATH}?{urlencode({'p': person_id, 'c': category, 't': token(key, person_id, category)})}")


def _refused() -> NotFound:
    return NotFound("Ce lien de désabonnement n'est pas valide (incomplet, modifié ou d'une autre personne).",
                    code="unsubscribe_link_invalid")


def check(session: Session, person: str | None, category: str | None, given: str | None) -> tuple[Person, str]:
    """The person and category a link names, if its signature holds."""
    if not (person and _PERSON.fullmatch(person) and category and given) or not offered(category):
        raise _refused()
    key = _existing_secret(session)
    if key is None:
        raise _refused()
    expected = token(key, int(person), category)
    found = session.get(Person, int(person))
    if not hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8")) or found is None:
        raise _refused()
    return found, category


def unsubscribe(session: Session, person: Person, category: str) -> list[str]:
    """Turn the category off for the person (the digest: every category it reads daily); the
    labels of what it will no longer receive."""
    assert person.id is not None
    organisation = session.get(Organisation, person.organisation_id)
    kind = organisation.kind if organisation else ""
    chosen = {p.category: p for p in session.exec(
        select(NotificationPreference).where(NotificationPreference.person_id == person.id))}
    if category == DIGEST:
        codes = [c.code for c in BY_CODE.values() if kind in c.kinds and not c.mandatory
                 and mode_of(c.code, Mode(chosen[c.code].mode) if c.code in chosen else None) is Mode.DAILY]
    else:
        codes = [category]
    for code in codes:
        row = chosen.get(code) or NotificationPreference(person_id=person.id, category=code, mode=Mode.OFF.value)
        row.mode, row.updated_at = Mode.OFF.value, utcnow()
        session.add(row)
    session.flush()
    return [BY_CODE[code].label for code in codes]
