"""Mandates: a porteur grants an éditeur the right to push for one of its requests, and
withdraws it; the éditeur may give it up. An éditeur's scope is its mandates in force.

A change takes effect for the éditeur's keys within the key cache's lifetime
(``SERVICE_API_KEY_CACHE_SECONDS``): the cache keeps an éditeur's mandated references with its
key. What the éditeur pushed before a withdrawal stays. Each grant and withdrawal is audited
and announced to the éditeur's webhook subscriptions (and to whoever sees the request).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from service import actors
from service.audit import trail as audit
from service.domain import access
from service.domain.access import Principal, Role, mandate_in_force
from service.domain.errors import Conflict, Issue, NotFound, ValidationFailed
from service.kit.mailing import Mailing
from service.kit.pagination import Key, Keyset, PageRequest
from service.models import MANDATE_TABLE, FundingRequest, Mandate, Organisation, iso_z, utcnow
from service.notifications import events as tell
from service.organisations.directory import editeur, organisation_view
from service.scope import load_request, mandates_in_force, scope_of
from service.webhooks import outbox

_MANDATE = MANDATE_TABLE


def mandate_view(mandate: Mandate, editeur_org: Organisation | None, *, today: date,
                 named: actors.Resolve) -> dict[str, Any]:
    return {"id": mandate.id, "galis_ref": mandate.galis_ref,
            "editeur": organisation_view(editeur_org) if editeur_org is not None else None,
            "granted_by": named(mandate.granted_by_key_id, mandate.granted_by_person_id),
            "revoked_by": named(mandate.revoked_by_key_id, mandate.revoked_by_person_id),
            "granted_at": iso_z(mandate.granted_at),
            "starts_on": mandate.starts_on.isoformat() if mandate.starts_on else None,
            "ends_on": mandate.ends_on.isoformat() if mandate.ends_on else None,
            "revoked_at": iso_z(mandate.revoked_at),
            "active": mandate_in_force(mandate.revoked_at, mandate.starts_on, mandate.ends_on, today)}


def mandate_not_found(mandate_id: str) -> NotFound:
    return NotFound(f"Mandat {mandate_id} introuvable.", code="mandate_not_found")


def _require_porteur_manager(actor: Principal, what: str) -> None:
    """After the role (``access.require_may_grant_mandates``) and the request's scope: a porteur's
    managers only."""
    if actor.role is not Role.ADMIN:
        access.require_manages(actor, actor.organisation_id or 0, what)


def grant(session: Session, actor: Principal, galis_ref: str, *, editeur_id: int, starts_on: date | None,
          ends_on: date | None, today: date, mailing: Mailing) -> dict[str, Any]:
    """A mandate of ``editeur_id`` for the request; 409 ``mandate_exists`` while one is in force
    or to come for the same éditeur and request."""
    access.require_may_grant_mandates(actor)
    req = load_request(session, actor, galis_ref, for_update=True)  # one grant at a time per request
    _require_porteur_manager(actor, "mandater un éditeur")
    issues: list[Issue] = []
    org = editeur(session, editeur_id)
    if org is None:
        issues.append(Issue(code="editeur_unknown", field="editeur_id",
                            message=f"Aucun éditeur enregistré sous l'identifiant {editeur_id} : choisissez-le "
                                    "dans la liste des éditeurs (GET /v1/organisations?kind=editeur)."))
    if starts_on is not None and ends_on is not None and ends_on < starts_on:
        issues.append(Issue(code="mandate_period_invalid", field="ends_on",
                            message=f"La fin du mandat ({ends_on.isoformat()}) précède son début "
                                    f"({starts_on.isoformat()})."))
    elif ends_on is not None and ends_on < today:
        issues.append(Issue(code="mandate_period_invalid", field="ends_on",
                            message=f"La fin du mandat ({ends_on.isoformat()}) est déjà passée."))
    if issues:
        raise ValidationFailed(issues)
    assert org is not None and org.id is not None
    current = session.exec(select(Mandate).where(  # in force or to come
        _MANDATE.c.galis_ref == req.galis_ref, _MANDATE.c.editeur_id == org.id, _MANDATE.c.revoked_at.is_(None),
        sa.or_(_MANDATE.c.ends_on.is_(None), _MANDATE.c.ends_on >= today))).first()
    if current is not None:
        raise Conflict(f"L'éditeur « {org.name} » est déjà mandaté pour la demande {req.galis_ref} "
                       f"(mandat {current.id}).", code="mandate_exists")
    mandate = Mandate(id=str(uuid.uuid4()), galis_ref=req.galis_ref, editeur_id=org.id, starts_on=starts_on,
                      ends_on=ends_on, granted_at=utcnow(), granted_by_key_id=actor.key_id or None,
                      granted_by_person_id=actor.person_id)
    session.add(mandate)
    session.flush()
    assert req.id is not None
    audit.record(session, actor, "mandate_granted", "mandate", mandate.id, request_id=req.id, galis_ref=req.galis_ref,
                 payload={"editeur_id": org.id, "editeur": org.name, "starts_on": _day(starts_on),
                          "ends_on": _day(ends_on)})
    outbox.emit(session, "mandate.granted", request_id=req.id, also_organisation=org.id,
                data={"mandate_id": mandate.id, "editeur_id": org.id, "starts_on": _day(starts_on),
                      "ends_on": _day(ends_on)})
    tell.mandate_changed(session, mailing, req, org, granted=True, by_editeur=False, starts_on=starts_on,
                         ends_on=ends_on, by=actor.label)
    return mandate_view(mandate, org, today=today, named=_named(session, [mandate]))


def _named(session: Session, mandates: list[Mandate]) -> actors.Resolve:
    return actors.resolver(session.connection(), [pair for m in mandates for pair in (
        (m.granted_by_key_id, m.granted_by_person_id), (m.revoked_by_key_id, m.revoked_by_person_id))])


def _day(value: date | None) -> str | None:
    return value.isoformat() if value else None


def _visible(principal: Principal, mandate: Mandate, req: FundingRequest | None) -> bool:
    if principal.role in (Role.ADMIN, Role.CNSA_AUDITOR):
        return True
    if principal.role is Role.VENDOR:
        return principal.organisation_id == mandate.editeur_id
    return req is not None and access.sees_request(principal, scope_of(req))


def revoke(session: Session, actor: Principal, mandate_id: str, *, today: date, mailing: Mailing) -> dict[str, Any]:
    """Withdrawn by the porteur's managers or an administrator, or given up by the éditeur's
    managers; 409 ``mandate_already_revoked``."""
    access.require_may_end_mandates(actor)
    mandate = session.exec(select(Mandate).where(Mandate.id == mandate_id).with_for_update()).first()
    req = session.exec(select(FundingRequest).where(FundingRequest.galis_ref == mandate.galis_ref)).first() \
        if mandate is not None else None
    if mandate is None or not _visible(actor, mandate, req):
        raise mandate_not_found(mandate_id)
    if actor.role is Role.VENDOR:
        access.require_manages(actor, mandate.editeur_id, "renoncer à un mandat")
    else:
        _require_porteur_manager(actor, "retirer un mandat")
    if mandate.revoked_at is not None:
        raise Conflict(f"Le mandat {mandate.id} a pris fin le {iso_z(mandate.revoked_at)}.",
                       code="mandate_already_revoked")
    mandate.revoked_at = utcnow()
    mandate.revoked_by_key_id, mandate.revoked_by_person_id = actor.key_id or None, actor.person_id
    session.add(mandate)
    session.flush()
    org = session.get(Organisation, mandate.editeur_id)
    audit.record(session, actor, "mandate_revoked", "mandate", mandate.id, request_id=req.id if req else None,
                 galis_ref=mandate.galis_ref,
                 payload={"editeur_id": mandate.editeur_id, "by": "editeur" if actor.role is Role.VENDOR else "porteur"
                          if actor.role is Role.PORTEUR else "administrateur"})
    if req is not None and req.id is not None:
        outbox.emit(session, "mandate.revoked", request_id=req.id, also_organisation=mandate.editeur_id,
                    data={"mandate_id": mandate.id, "editeur_id": mandate.editeur_id})
        if org is not None:
            tell.mandate_changed(session, mailing, req, org, granted=False, by_editeur=actor.role is Role.VENDOR,
                                 starts_on=mandate.starts_on, ends_on=mandate.ends_on, by=actor.label)
    return mandate_view(mandate, org, today=today, named=_named(session, [mandate]))


_NEWEST_FIRST = Keyset(Key("granted_at", Mandate.granted_at, datetime, descending=True),
                       Key("id", Mandate.id, str, descending=True))


def list_mandates(session: Session, principal: Principal, page: PageRequest, *, today: date,
                  galis_ref: str | None, editeur_id: int | None, active: bool | None) -> dict[str, Any]:
    """The mandates the caller may see (its requests', its own as an éditeur, its région's),
    newest first, cursor-paged."""
    query = select(Mandate)
    if principal.role is Role.VENDOR:
        query = query.where(Mandate.editeur_id == principal.organisation_id)
    elif principal.role in (Role.PORTEUR, Role.ARS_REVIEWER):
        seen = select(FundingRequest.galis_ref)
        seen = seen.where(FundingRequest.siret == principal.siret) if principal.role is Role.PORTEUR \
            else seen.where(FundingRequest.region_code == principal.region_code)
        query = query.where(Mandate.galis_ref.in_(seen))  # type: ignore[attr-defined]
    if galis_ref is not None:
        query = query.where(Mandate.galis_ref == galis_ref)
    if editeur_id is not None:
        query = query.where(Mandate.editeur_id == editeur_id)
    if active is not None:
        in_force = mandates_in_force(today)
        query = query.where(in_force if active else sa.not_(in_force))
    rows, next_cursor = _NEWEST_FIRST.page(list(session.exec(_NEWEST_FIRST.select(query, page))), page,
                                           lambda m: (m.granted_at, m.id))
    orgs = {o.id: o for o in session.exec(select(Organisation).where(
        Organisation.id.in_(sorted({m.editeur_id for m in rows}))))}  # type: ignore[union-attr]
    named = _named(session, rows)
    return {"items": [mandate_view(m, orgs.get(m.editeur_id), today=today, named=named) for m in rows],
            "next_cursor": next_cursor}

