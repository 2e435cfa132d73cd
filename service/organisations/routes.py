"""Organisations, their people and the porteurs' mandates to éditeurs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, Query, status

from service.domain import access
from service.domain.access import Kind
from service.http.deps import (
    CurrentPrincipal,
    DatabaseDep,
    GalisRefPath,
    MailingDep,
    OrganisationIdPath,
    Page,
    ReadSession,
    Today,
)
from service.http.problems import problem_responses
from service.http.routing import api_router, caller_rule
from service.http.schemas import GALIS_REF_SCHEMA
from service.http.schemas import Page as PageOut
from service.organisations import directory, mandates, people
from service.organisations.schemas import (
    EditeurCreate,
    MandateCreate,
    MandateOut,
    OrganisationKind,
    OrganisationOut,
    OrganisationPatch,
    PersonInvite,
    PersonOut,
    PersonPatch,
)

router = api_router(tags=["organisations"])

PersonIdPath = Annotated[int, Path(description="Identifiant de la personne.", ge=1, le=2**31 - 1)]
MandateIdPath = Annotated[str, Path(description="Identifiant du mandat (UUID).", json_schema_extra={"format": "uuid"})]


@router.post(
    "/v1/organisations",
    status_code=status.HTTP_201_CREATED,
    response_model=OrganisationOut,
    summary="Enregistrer un éditeur",
    description="Administrateurs. Les porteurs (un par SIRET, créés avec leur première demande), les ARS (une par "
                "région), la CNSA et l'administration existent d'office. 409 `organisation_exists` pour un SIRET "
                "d'éditeur déjà enregistré.",
    operation_id="create_organisation",
    responses=problem_responses(400, 401, 403, 409, 422),
)
async def create_organisation(payload: EditeurCreate, principal: CurrentPrincipal, database: DatabaseDep) -> Any:
    return await database.writer.run(lambda session: directory.register_editeur(
        session, principal, name=payload.name, siret=payload.siret, contact_email=payload.contact_email))


@router.get(
    "/v1/organisations",
    response_model=PageOut[OrganisationOut],
    summary="Lister les organisations",
    description="Administrateurs et CNSA : toutes ; chacun : les éditeurs (pour choisir celui qu'il mandate) et sa "
                "propre organisation. Dans l'ordre d'enregistrement.",
    operation_id="list_organisations",
    responses=problem_responses(401, 422),
)
def list_organisations(principal: CurrentPrincipal, session: ReadSession, page: Page,
                       kind: Annotated[OrganisationKind | None, Query(description="Un seul type.")] = None) -> Any:
    return directory.list_organisations(session, principal, page, kind=Kind(kind) if kind else None)


@router.get(
    "/v1/organisations/{organisation_id}",
    response_model=OrganisationOut,
    summary="Une organisation",
    description="404 `organisation_not_found` pour une organisation inconnue ou hors de vue.",
    operation_id="get_organisation",
    responses=problem_responses(401, 404, 422),
)
def get_organisation(organisation_id: OrganisationIdPath, principal: CurrentPrincipal, session: ReadSession) -> Any:
    return directory.organisation_view(directory.load_organisation(session, principal, organisation_id))


@router.patch(
    "/v1/organisations/{organisation_id}",
    response_model=OrganisationOut,
    summary="Corriger le nom ou l'adresse de contact d'une organisation",
    description="Gestionnaires de l'organisation, administrateurs (403 `manager_required` pour un membre).",
    operation_id="update_organisation",
    responses=problem_responses(400, 401, 403, 404, 422),
)
async def update_organisation(organisation_id: OrganisationIdPath, payload: OrganisationPatch,
                              principal: CurrentPrincipal, database: DatabaseDep) -> Any:
    changes = payload.model_dump(exclude_unset=True)
    if "name" in changes and changes["name"] is None:
        del changes["name"]
    return await database.writer.run(lambda session: directory.update_organisation(
        session, principal, organisation_id, changes))


@router.post(
    "/v1/organisations/{organisation_id}/people",
    status_code=status.HTTP_201_CREATED,
    response_model=PersonOut,
    summary="Inviter une personne",
    description="Gestionnaires de l'organisation, administrateurs. La personne se connecte ensuite par ProConnect "
                "avec cette adresse et rejoint l'organisation. 409 `person_exists` pour une adresse connue.",
    operation_id="invite_person",
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def invite_person(organisation_id: OrganisationIdPath, payload: PersonInvite, principal: CurrentPrincipal,
                        database: DatabaseDep) -> Any:
    return await database.writer.run(lambda session: people.invite(
        session, principal, organisation_id, email=payload.email, role=payload.role, given_name=payload.given_name,
        usual_name=payload.usual_name))


@router.get(
    "/v1/organisations/{organisation_id}/people",
    response_model=PageOut[PersonOut],
    summary="Lister les personnes d'une organisation",
    description="Ses membres et administrateurs ; 404 pour les autres.",
    operation_id="list_people",
    responses=problem_responses(401, 404, 422),
)
def list_people(organisation_id: OrganisationIdPath, principal: CurrentPrincipal, session: ReadSession,
                page: Page) -> Any:
    return people.list_people(session, principal, organisation_id, page)


@router.patch(
    "/v1/people/{person_id}",
    response_model=PersonOut,
    summary="Changer le rôle d'une personne ou la désactiver",
    description="Gestionnaires de son organisation, administrateurs. Une désactivation met fin aussitôt à ses "
                "sessions.",
    operation_id="update_person",
    responses=problem_responses(400, 401, 403, 404, 422),
)
async def update_person(person_id: PersonIdPath, payload: PersonPatch, principal: CurrentPrincipal,
                        database: DatabaseDep) -> Any:
    changes = {field: value for field, value in payload.model_dump(exclude_unset=True).items() if value is not None}
    return await database.writer.run(lambda session: people.update_person(session, principal, person_id, changes))


@router.post(
    "/v1/funding-requests/{galis_ref}/mandates",
    status_code=status.HTTP_201_CREATED,
    response_model=MandateOut,
    summary="Mandater un éditeur pour une demande",
    description="Gestionnaires du porteur, administrateurs. L'éditeur peut aussitôt transmettre pour la demande "
                "(au plus tard `SERVICE_API_KEY_CACHE_SECONDS` après). 409 `mandate_exists` si l'éditeur a déjà un "
                "mandat en vigueur ou à venir pour la demande ; 422 `editeur_unknown`, `mandate_period_invalid`. "
                "Événement `mandate.granted`.",
    operation_id="grant_mandate",
    responses=problem_responses(400, 401, 403, 404, 409, 422),
    dependencies=[caller_rule(access.require_may_grant_mandates)],
)
async def grant_mandate(galis_ref: GalisRefPath, payload: MandateCreate, principal: CurrentPrincipal,
                        database: DatabaseDep, today: Today, mailing: MailingDep) -> Any:
    return await database.writer.run(lambda session: mandates.grant(
        session, principal, galis_ref, editeur_id=payload.editeur_id, starts_on=payload.starts_on,
        ends_on=payload.ends_on, today=today, mailing=mailing))


@router.delete(
    "/v1/mandates/{mandate_id}",
    response_model=MandateOut,
    summary="Mettre fin à un mandat",
    description="Gestionnaires du porteur ou de l'éditeur (qui y renonce), administrateurs. Les transmissions "
                "suivantes de l'éditeur pour la demande sont refusées (404) ; ses versions passées restent. "
                "409 `mandate_already_revoked`. Événement `mandate.revoked`.",
    operation_id="revoke_mandate",
    responses=problem_responses(401, 403, 404, 409, 422),
    dependencies=[caller_rule(access.require_may_end_mandates)],
)
async def revoke_mandate(mandate_id: MandateIdPath, principal: CurrentPrincipal, database: DatabaseDep,
                         today: Today, mailing: MailingDep) -> Any:
    return await database.writer.run(lambda session: mandates.revoke(session, principal, mandate_id, today=today,
                                                                     mailing=mailing))


@router.get(
    "/v1/mandates",
    response_model=PageOut[MandateOut],
    summary="Lister les mandats",
    description="Ceux que l'appelant peut voir : les siens (éditeur), ceux de ses demandes (porteur), de sa région "
                "(ARS), tous (CNSA, administrateurs). Du plus récent au plus ancien.",
    operation_id="list_mandates",
    responses=problem_responses(401, 422),
)
def list_mandates(
    principal: CurrentPrincipal, session: ReadSession, page: Page, today: Today,
    galis_ref: Annotated[str | None, Query(description="Une demande.", json_schema_extra=GALIS_REF_SCHEMA)] = None,
    editeur_id: Annotated[int | None, Query(description="Un éditeur.", ge=1, le=2**31 - 1)] = None,
    active: Annotated[bool | None, Query(description="true : en vigueur aujourd'hui ; false : les autres.")] = None,
) -> Any:
    return mandates.list_mandates(session, principal, page, today=today, galis_ref=galis_ref, editeur_id=editeur_id,
                                  active=active)
