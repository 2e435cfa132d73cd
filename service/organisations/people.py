"""People of an organisation: invited by e-mail by its managers (or an administrator), linked to
their ProConnect identity at their first sign-in, made managers or members, deactivated.

Deactivation ends the person's console sessions in the same transaction: the next page they
open asks them to sign in, and signing in is refused.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from service.audit import trail as audit
from service.domain import access
from service.domain.access import Principal
from service.domain.errors import Conflict, NotFound
from service.kit.pagination import Key, Keyset, PageRequest
from service.models import CONSOLE_SESSION_TABLE, ORGANISATION_TABLE, PERSON_TABLE, Organisation, Person, iso_z, utcnow
from service.organisations.directory import load_organisation, managed_organisation
from service.scope import ORGANISATION_SCOPE, acting_for


def display_name(person: Any) -> str:
    """« Marie Dupont », or the e-mail address of a person who never signed in."""
    name = " ".join(part for part in (person.given_name, person.usual_name) if part)
    return name or person.email


def person_view(person: Person) -> dict[str, Any]:
    return {"id": person.id, "email": person.email, "given_name": person.given_name or None,
            "usual_name": person.usual_name or None, "organisation_id": person.organisation_id,
            "role": person.role, "active": person.active, "status": _status(person),
            "invited_at": iso_z(person.invited_at), "last_sign_in_at": iso_z(person.last_sign_in_at)}


def _status(person: Person) -> str:
    if not person.active:
        return "deactivated"
    return "invited" if person.subject is None else "active"


def person_not_found(person_id: object) -> NotFound:
    return NotFound(f"Personne {person_id} introuvable.", code="person_not_found")


def normalised_email(email: str) -> str:
    return email.strip().lower()


def invite(session: Session, actor: Principal, organisation_id: int, *, email: str, role: str,
           given_name: str | None = None, usual_name: str | None = None) -> dict[str, Any]:
    """An invitation: the person may sign in through ProConnect with this e-mail address and is
    then linked to the organisation. 409 ``person_exists`` when the address is known."""
    org = managed_organisation(session, actor, organisation_id, "inviter des personnes")
    assert org.id is not None
    email = normalised_email(email)
    existing = session.exec(select(Person).where(Person.email == email)).first()
    if existing is not None:
        where = "dans votre organisation" if existing.organisation_id == org.id else "dans une autre organisation"
        raise Conflict(f"L'adresse {email} est déjà celle d'une personne {where}.", code="person_exists")
    person = Person(organisation_id=org.id, email=email, role=role, given_name=(given_name or "").strip(),
                    usual_name=(usual_name or "").strip())
    session.add(person)
    session.flush()
    audit.record(session, actor, "person_invited", "person", str(person.id),
                 payload={"organisation_id": org.id, "email": email, "role": role})
    return person_view(person)


_BY_ID = Keyset(Key("after", Person.id, int))


def list_people(session: Session, principal: Principal, organisation_id: int, page: PageRequest) -> dict[str, Any]:
    """The people of an organisation, for its own people and administrators (whoever else sees it: 403)."""
    load_organisation(session, principal, organisation_id)
    if principal.organisation_id != organisation_id:
        access.require_manages(principal, organisation_id, "voir les personnes")
    query = select(Person).where(Person.organisation_id == organisation_id)
    rows, next_cursor = _BY_ID.page(list(session.exec(_BY_ID.select(query, page))), page, lambda p: (p.id,))
    return {"items": [person_view(p) for p in rows], "next_cursor": next_cursor}


def update_person(session: Session, actor: Principal, person_id: int, changes: dict[str, Any]) -> dict[str, Any]:
    """``role`` and ``active`` changed by the organisation's managers or an administrator; a
    deactivation ends the person's sessions at once."""
    person = session.get(Person, person_id)
    org = session.get(Organisation, person.organisation_id) if person is not None else None
    if person is None or org is None or not access.sees_organisation(actor, person.organisation_id, org.kind):
        raise person_not_found(person_id)
    access.require_manages(actor, person.organisation_id, "modifier les personnes")
    before = {field: getattr(person, field) for field in changes}
    for field, value in changes.items():
        setattr(person, field, value)
    session.add(person)
    session.flush()
    if changes.get("active") is False:
        session.connection().execute(sa.update(CONSOLE_SESSION_TABLE).where(
            CONSOLE_SESSION_TABLE.c.person_id == person.id, CONSOLE_SESSION_TABLE.c.ended_at.is_(None))
            .values(ended_at=utcnow()))
    audit.record(session, actor, "person_updated", "person", str(person.id),
                 payload={"before": before, "after": {field: getattr(person, field) for field in changes}})
    return person_view(person)


_PERSON_AND_ORGANISATION = (sa.select(PERSON_TABLE, *ORGANISATION_SCOPE)
                            .join(ORGANISATION_TABLE, ORGANISATION_TABLE.c.id == PERSON_TABLE.c.organisation_id)
                            .where(PERSON_TABLE.c.id == sa.bindparam("id")))


def person_principal(conn: sa.Connection, person_id: int, today: date) -> Principal | None:
    """The caller a person stands for (its organisation's role and scope, an éditeur's mandates in
    force ``today``), named « Marie Dupont (ARS Occitanie) »; ``None`` when deactivated."""
    row = conn.execute(_PERSON_AND_ORGANISATION, {"id": person_id}).first()
    if row is None or not row.active:
        return None
    return acting_for(conn, row, today, label=f"{display_name(row)} ({row.org_name})"[:200], person_id=row.id,
                      manager=row.role == "manager")
