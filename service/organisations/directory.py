"""Organisations: found or made for the fixed ones (the administration, the CNSA, one ARS per
région, one porteur per SIRET), registered by an administrator for the éditeurs.

The kind and the scope (SIRET, région) of an organisation never change: they decide what its
people and keys may see. Its name and contact address may be corrected by its managers.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, select

from service.audit import trail as audit
from service.domain import access
from service.domain.access import Kind, Principal, Role
from service.domain.errors import Conflict, Forbidden, InvalidIdentifier, Issue, NotFound, ValidationFailed
from service.domain.identifiers import REGIONS, Siret
from service.kit.pagination import Key, Keyset, PageRequest
from service.models import ORGANISATION_TABLE, Organisation, iso_z, utcnow

ADMINISTRATION_NAME = "Administration du service"
CNSA_NAME = "CNSA"
_ORG = ORGANISATION_TABLE


def organisation_view(org: Any) -> dict[str, Any]:
    return {"id": org.id, "kind": org.kind, "name": org.name, "siret": org.siret, "region_code": org.region_code,
            "contact_email": org.contact_email, "created_at": iso_z(org.created_at)}


def organisation_not_found(organisation_id: object) -> NotFound:
    return NotFound(f"Organisation {organisation_id} introuvable.", code="organisation_not_found")


def _fixed(session: Session, kind: Kind, name: str, *, siret: str | None = None,
           region_code: str | None = None) -> Organisation:
    """The organisation of ``kind`` (and SIRET or région), made the first time it is needed. Two
    transactions making it at once: the unique constraint keeps one, both read it."""
    where = [_ORG.c.kind == kind.value]
    if siret is not None:
        where.append(_ORG.c.siret == siret)
    if region_code is not None:
        where.append(_ORG.c.region_code == region_code)
    query = select(Organisation).where(*where).order_by(Organisation.id)  # type: ignore[arg-type]
    found = session.exec(query).first()
    if found is not None:
        return found
    values = {"kind": kind.value, "name": name, "siret": siret, "region_code": region_code, "created_at": utcnow()}
    conn = session.connection()
    if kind in (Kind.PORTEUR, Kind.ARS):  # unique by SIRET or région: racing makers keep one
        insert = (postgresql.insert(_ORG) if conn.dialect.name == "postgresql" else sqlite.insert(_ORG))
        conn.execute(insert.values(**values).on_conflict_do_nothing())
    else:
        conn.execute(sa.insert(_ORG).values(**values))
    made = session.exec(query).first()
    assert made is not None
    return made


def administration(session: Session) -> Organisation:
    return _fixed(session, Kind.ADMINISTRATION, ADMINISTRATION_NAME)


def cnsa(session: Session) -> Organisation:
    return _fixed(session, Kind.CNSA, CNSA_NAME)


def ars_of(session: Session, region_code: str) -> Organisation:
    return _fixed(session, Kind.ARS, f"ARS {REGIONS[region_code]}", region_code=region_code)


def porteur_of(session: Session, siret: str, name: str | None = None) -> Organisation:
    """The porteur organisation of ``siret``, named after ``name`` (its first request's porteur)."""
    return _fixed(session, Kind.PORTEUR, name or f"Porteur {siret}", siret=siret)


def register_editeur(session: Session, actor: Principal, *, name: str, siret: str,
                     contact_email: str | None) -> dict[str, Any]:
    """An éditeur registered by an administrator; 409 ``organisation_exists`` for a known SIRET."""
    if actor.role is not Role.ADMIN:
        raise Forbidden("Seul un administrateur enregistre un éditeur.", code="role_not_allowed")
    try:
        siret = Siret.parse(siret).value
    except InvalidIdentifier as exc:
        raise ValidationFailed([Issue(code=exc.code, message=exc.message, field="siret")]) from None
    existing = session.exec(select(Organisation).where(Organisation.kind == Kind.EDITEUR.value,
                                                       Organisation.siret == siret)).first()
    if existing is not None:
        raise Conflict(f"L'éditeur de SIRET {siret} est déjà enregistré (organisation {existing.id}, "
                       f"« {existing.name} »).", code="organisation_exists")
    org = Organisation(kind=Kind.EDITEUR.value, name=name.strip(), siret=siret, contact_email=contact_email)
    session.add(org)
    session.flush()
    audit.record(session, actor, "organisation_registered", "organisation", str(org.id),
                 payload={"kind": org.kind, "name": org.name, "siret": siret, "contact_email": contact_email})
    return organisation_view(org)


def editeur(session: Session, editeur_id: int) -> Organisation | None:
    org = session.get(Organisation, editeur_id)
    return org if org is not None and org.kind == Kind.EDITEUR.value else None


def load_organisation(session: Session, principal: Principal, organisation_id: int) -> Organisation:
    """The organisation if the caller may see it; absent and out of sight look the same."""
    org = session.get(Organisation, organisation_id)
    if org is None or org.id is None or not access.sees_organisation(principal, org.id, org.kind):
        raise organisation_not_found(organisation_id)
    return org


def managed_organisation(session: Session, actor: Principal, organisation_id: int, what: str) -> Organisation:
    """The organisation if ``actor`` manages it: 404 out of sight, 403 ``manager_required`` for
    whoever else sees it (« inviter des personnes »: ``what`` names the refused action)."""
    org = load_organisation(session, actor, organisation_id)
    assert org.id is not None
    access.require_manages(actor, org.id, what)
    return org


_BY_ID = Keyset(Key("after", Organisation.id, int))


def list_organisations(session: Session, principal: Principal, page: PageRequest, *,
                       kind: Kind | None) -> dict[str, Any]:
    """Administrators and the CNSA list every organisation, everyone the éditeurs; otherwise
    one's own. In order of registration, cursor-paged."""
    query = select(Organisation)
    if kind is not None:
        query = query.where(Organisation.kind == kind.value)
    if principal.role not in (Role.ADMIN, Role.CNSA_AUDITOR):
        query = query.where(sa.or_(_ORG.c.kind == Kind.EDITEUR.value, _ORG.c.id == principal.organisation_id))
    rows, next_cursor = _BY_ID.page(list(session.exec(_BY_ID.select(query, page))), page, lambda o: (o.id,))
    return {"items": [organisation_view(o) for o in rows], "next_cursor": next_cursor}


def update_organisation(session: Session, actor: Principal, organisation_id: int,
                        changes: dict[str, Any]) -> dict[str, Any]:
    """``name`` and ``contact_email`` corrected by the organisation's managers or an administrator."""
    org = managed_organisation(session, actor, organisation_id, "modifier l'organisation")
    before = {field: getattr(org, field) for field in changes}
    for field, value in changes.items():
        setattr(org, field, value.strip() if isinstance(value, str) and field == "name" else value)
    session.add(org)
    session.flush()
    audit.record(session, actor, "organisation_updated", "organisation", str(org.id),
                 payload={"before": before, "after": {field: getattr(org, field) for field in changes}})
    return organisation_view(org)
