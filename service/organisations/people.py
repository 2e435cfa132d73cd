"""People of an organisation: invited by e-mail by its managers (or an administrator), linked to
their ProConnect identity at their first sign-in, made managers or members, deactivated.

Deactivation ends the person's console sessions in the same transaction: the next page they
open asks them to sign in, and signing in is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from service.actors import display_name
from service.audit import trail as audit
from service.domain import access
from service.domain.access import Kind, Principal, Role
from service.domain.errors import Conflict, Forbidden, NotFound
from service.kit.pagination import Key, Keyset, PageRequest
from service.models import CONSOLE_SESSION_TABLE, ORGANISATION_TABLE, PERSON_TABLE, Organisation, Person, iso_z, utcnow
from service.organisations.directory import load_organisation, managed_organisation
from service.scope import ORGANISATION_SCOPE, acting_for


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
    return acting_for(conn, row, today, label=f"{display_name(row)} ({row.org_name})"[:200], name=display_name(row),
                      person_id=row.id,
                      manager=row.role == "manager")


# --- signing in: who the provider says it is, linked to a person ---------------------------------

#: The actor of what is recorded when nobody could be linked: the service's sign-in itself.
SIGN_IN_DESK = Principal(key_id=0, role=Role.ADMIN, label="connexion ProConnect")

#: Organisations a person joins as a member on the ``siret`` claim alone (porteurs first).
_JOINED_BY_SIRET = (Kind.PORTEUR.value, Kind.EDITEUR.value)


@dataclass(frozen=True, slots=True)
class SignedInIdentity:
    """What the identity provider vouched for."""

    issuer: str
    subject: str
    email: str
    given_name: str
    usual_name: str
    siret: str | None


def link_identity(session: Session, identity: SignedInIdentity, today: date) -> int:
    """The person an identity signs in as: known by (issuer, ``sub``); else the invitation of its
    e-mail address, linked now; else a new member of the porteur or éditeur organisation of its
    SIRET. Its names and last sign-in are updated. Refused (403, nothing changed) for anyone else
    or a deactivated person."""
    person = session.exec(select(Person).where(Person.issuer == identity.issuer,
                                               Person.subject == identity.subject)).first()
    how = "known"
    if person is None:
        person = session.exec(select(Person).where(Person.email == identity.email)).first()
        how = "invitation"
        if person is not None and person.subject is not None:
            raise Forbidden(f"L'adresse {identity.email} est déjà liée à une autre identité ProConnect : demandez au "
                            "gestionnaire de votre organisation de vérifier votre compte.", code="identity_mismatch")
    if person is None and identity.siret:
        org = session.exec(select(Organisation).where(Organisation.siret == identity.siret,
                                                      Organisation.kind.in_(_JOINED_BY_SIRET))  # type: ignore[attr-defined]
                           .order_by(Organisation.kind.desc())).first()  # type: ignore[attr-defined]
        if org is not None:
            assert org.id is not None
            person, how = Person(organisation_id=org.id, email=identity.email, role="member"), "siret"
    if person is None:
        raise Forbidden(f"Aucun compte n'est ouvert pour {identity.email}. Demandez au gestionnaire de votre "
                        "organisation de vous inviter avec cette adresse (les agents des ARS et de la CNSA : à "
                        "l'administrateur du service).", code="person_unknown")
    if not person.active:
        raise Forbidden("Votre compte a été désactivé : adressez-vous au gestionnaire de votre organisation.",
                        code="person_deactivated")
    taken = session.exec(select(Person.id).where(Person.email == identity.email, Person.id != person.id)).first() \
        if person.id is not None and person.email != identity.email else None
    if taken is None:
        person.email = identity.email
    person.issuer, person.subject = identity.issuer, identity.subject
    person.given_name = identity.given_name or person.given_name
    person.usual_name = identity.usual_name or person.usual_name
    person.last_sign_in_at = utcnow()
    session.add(person)
    session.flush()
    assert person.id is not None
    if how != "known":
        actor = person_principal(session.connection(), person.id, today)
        assert actor is not None
        audit.record(session, actor, "person_linked", "person", str(person.id), payload={
            "how": how, "issuer": identity.issuer, "email": person.email, "organisation_id": person.organisation_id})
    return person.id


def record_refusal(session: Session, identity: SignedInIdentity, code: str) -> None:
    """The audit trail's only trace of someone the service would not let in."""
    audit.record(session, SIGN_IN_DESK, "sign_in_refused", "identity", identity.subject[:64],
                 payload={"code": code, "issuer": identity.issuer, "subject": identity.subject,
                          "email": identity.email, "siret": identity.siret})
