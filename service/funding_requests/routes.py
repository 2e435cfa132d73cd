"""Funding requests (demandes GALIS) and their milestone events."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query, Request, status
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from service.domain import access
from service.funding_requests import imports, use_cases
from service.funding_requests.schemas import (
    FundingRequestCreate,
    FundingRequestCreated,
    FundingRequestImportOut,
    FundingRequestOut,
    LifecycleEventCreate,
    LifecycleEventOut,
)
from service.http.deps import (
    CurrentPrincipal,
    DatabaseDep,
    GalisRefPath,
    MailingDep,
    Page,
    ReadSession,
    RegionQuery,
    SettingsDep,
    Today,
)
from service.http.problems import problem_responses
from service.http.routing import api_router, caller_rule
from service.http.schemas import Page as PageOut
from service.http.uploads import single_file

router = api_router(prefix="/v1/funding-requests", tags=["demandes-de-financement"])


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=FundingRequestCreated,
    summary="Enregistrer une demande de financement",
    description=(
        "Enregistre une demande GALIS et sa grappe d'établissements (FINESS géographiques). "
        "Réservé à l'ARS de la région des établissements et aux administrateurs. La région est "
        "déduite des FINESS : tous doivent relever de la même ARS (sinon 422 "
        "`establishments_multiple_regions`). Un FINESS ne peut appartenir qu'à une demande "
        "(409 `finess_already_funded`) ; une référence ne peut être enregistrée deux fois "
        "(409 `galis_ref_exists`). Une fois un extrait FINESS importé, un FINESS que le répertoire ne "
        "connaît pas (422 `finess_unknown`) ou connaît comme fermé (422 `finess_closed`) est refusé ; "
        "la raison sociale et la catégorie omises sont lues dans le répertoire, et une raison sociale ou "
        "une catégorie qui en diffère est signalée dans `warnings`."
    ),
    operation_id="create_funding_request",
    dependencies=[caller_rule(access.require_may_create_requests)],
    responses=problem_responses(400, 401, 403, 409, 422),
)
async def create_funding_request(payload: FundingRequestCreate, principal: CurrentPrincipal,
                                 database: DatabaseDep, today: Today) -> Any:
    return await database.writer.run(
        lambda session: use_cases.create_funding_request(session, principal, payload, today=today))


@router.post(
    "/imports",
    response_model=FundingRequestImportOut,
    status_code=status.HTTP_201_CREATED,
    summary="Enregistrer des demandes en masse (CSV de GALIS)",
    description=(
        "Un fichier CSV (`;`, UTF-8), en-tête `galis_ref;siret;porteur_name;campaign_year;finess;name;category` "
        "(colonnes A à G), une ligne par établissement ; les lignes d'une demande partagent sa référence, son "
        "SIRET, son porteur et sa campagne. Chaque demande suit les règles de `POST /v1/funding-requests` (le "
        "répertoire FINESS compris). Tout ou rien : la moindre erreur refuse le fichier (422, chaque erreur avec "
        "sa ligne et sa colonne) et rien n'est enregistré ; `dry_run=true` vérifie sans rien enregistrer. Une "
        "demande déjà enregistrée à l'identique est laissée telle quelle : le même fichier renvoyé répond 200, "
        "`created: 0`. Administrateurs ; une ARS pour sa région. Corps `multipart/form-data`, champ `file`."
    ),
    operation_id="import_funding_requests",
    dependencies=[caller_rule(access.require_may_create_requests)],
    responses={200: {"description": "Rien de nouveau (ou vérification seule).", "model": FundingRequestImportOut},
               **problem_responses(400, 401, 403, 413, 415, 422)},
    openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file"], "properties": {"file": {"type": "string", "format": "binary"}}}}}}},
)
async def import_funding_requests(request: Request, principal: CurrentPrincipal, database: DatabaseDep,
                                  settings: SettingsDep, today: Today,
                                  dry_run: Annotated[bool, Query(description="Vérifier sans enregistrer.")] = False,
                                  ) -> Any:
    async with single_file(request, suffix=".csv", max_bytes=settings.max_template_bytes,
                           too_large_code="import_too_large", what="le CSV des demandes") as staged:
        content = await run_in_threadpool(staged.path.read_bytes)
    try:
        result = await database.writer.run(lambda session: imports.import_requests(
            session, principal, content, today=today, dry_run=dry_run))
    except imports.DryRun as done:
        result = done.result
    return JSONResponse(result, status_code=201 if result["created"] and not dry_run else 200)


@router.get(
    "",
    response_model=PageOut[FundingRequestOut],
    summary="Lister les demandes visibles",
    description=(
        "Les demandes du périmètre de la clé (la région d'une ARS, le SIRET d'un porteur, les "
        "références mandatées d'un éditeur ; tout pour la CNSA), par référence croissante, paginées."
    ),
    operation_id="list_funding_requests",
    responses=problem_responses(401, 422),
)
def list_funding_requests(
    principal: CurrentPrincipal, session: ReadSession, page: Page, today: Today,
    region: RegionQuery = None,
    request_status: Annotated[Literal["open", "closed"] | None, Query(alias="status")] = None,
) -> Any:
    return use_cases.list_funding_requests(session, principal, page, today=today, region_code=region,
                                           status=request_status)


@router.get(
    "/{galis_ref:request_ref}",
    response_model=FundingRequestOut,
    summary="Consulter une demande",
    description=(
        "La demande, ses établissements et l'état de ses jalons : VA ouverte ou non, fin de projet "
        "ouverte avec son échéance (`due_on`) et son éventuel dépassement. 404 si la demande "
        "n'existe pas ou n'est pas dans le périmètre de la clé."
    ),
    operation_id="get_funding_request",
    responses=problem_responses(401, 404),
)
def get_funding_request(galis_ref: GalisRefPath, principal: CurrentPrincipal, session: ReadSession,
                        today: Today) -> Any:
    return use_cases.get_funding_request(session, principal, galis_ref, today=today)


@router.post(
    "/{galis_ref}/events",
    status_code=status.HTTP_201_CREATED,
    response_model=FundingRequestOut,
    summary="Enregistrer un jalon",
    description=(
        "Par l'ARS de la région ou un administrateur. `va_validated` ouvre le jalon VA ; "
        "`vsr_validated` (VSR du dernier établissement) ouvre la fin de projet, échéance à 3 mois ; "
        "`deadline_extended` reporte l'échéance à `until` ; `balance_paid` clôt la demande : "
        "plus aucun envoi n'est accepté (409 `request_closed`). Rend la demande à jour."
    ),
    operation_id="record_funding_request_event",
    dependencies=[caller_rule(access.require_may_record_event)],
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def record_event(galis_ref: GalisRefPath, payload: LifecycleEventCreate, principal: CurrentPrincipal,
                       database: DatabaseDep, today: Today, mailing: MailingDep) -> Any:
    return await database.writer.run(
        lambda session: use_cases.record_event(session, principal, galis_ref, payload, today=today, mailing=mailing))


@router.get(
    "/{galis_ref}/events",
    response_model=list[LifecycleEventOut],
    summary="Historique des jalons",
    description="Les événements enregistrés sur la demande, dans l'ordre où ils l'ont été.",
    operation_id="list_funding_request_events",
    responses=problem_responses(401, 404),
)
def list_events(galis_ref: GalisRefPath, principal: CurrentPrincipal, session: ReadSession) -> Any:
    return use_cases.list_events(session, principal, galis_ref)
