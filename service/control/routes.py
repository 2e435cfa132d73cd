"""CNSA control: the queue by risk, claims, proof requests due in 48 hours, outcomes."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Query, status

from service.control import use_cases
from service.control.schemas import ControlCaseOut, OutcomeCreate, ProofRequestCreate, ProofRequestOut
from service.domain import access
from service.domain.lifecycle import Milestone
from service.domain.review import OutcomeCommand, ProofRequestCommand
from service.http.deps import CaseIdPath, CurrentPrincipal, DatabaseDep, MailingDep, Page, ReadSession, RegionQuery
from service.http.problems import problem_responses
from service.http.routing import api_router, caller_rule
from service.http.schemas import Page as PageOut

router = api_router(tags=["controle-cnsa"])
CaseId = CaseIdPath


@router.get(
    "/v1/control-queue",
    response_model=PageOut[ControlCaseOut],
    summary="File de contrôle de la CNSA",
    description="Un dossier par version reçue, du plus risqué au moins risqué (puis du plus ancien), avec son "
                "score de 0 à 100 et ses motifs en clair. Filtres : région, jalon, statut (`open`, `claimed`, "
                "`closed`). Auditeur CNSA ou administrateur.",
    operation_id="control_queue",
    dependencies=[caller_rule(access.require_may_control)],
    responses=problem_responses(401, 403, 422),
)
def control_queue(
    principal: CurrentPrincipal, session: ReadSession, page: Page,
    region: RegionQuery = None,
    milestone: Annotated[Milestone | None, Query(description="`va` ou `fin_projet`.")] = None,
    case_status: Annotated[Literal["open", "claimed", "closed"] | None,
                           Query(alias="status", description="open, claimed ou closed.")] = None,
) -> Any:
    return use_cases.control_queue(session, principal, page, region_code=region, milestone=milestone,
                                   status=case_status)


@router.get(
    "/v1/control-cases/{case_id}",
    response_model=ControlCaseOut,
    summary="Consulter un dossier de contrôle",
    description="Le dossier, son score et ses motifs, qui l'a pris en charge, ses demandes de preuve (échues ou "
                "non, avec leur réponse) et sa conclusion.",
    operation_id="get_control_case",
    dependencies=[caller_rule(access.require_may_control)],
    responses=problem_responses(401, 403, 404),
)
def get_case(case_id: CaseId, principal: CurrentPrincipal, session: ReadSession) -> Any:
    return use_cases.get_case(session, principal, case_id)


@router.post(
    "/v1/control-cases/{case_id}/claim",
    response_model=ControlCaseOut,
    summary="Prendre en charge un dossier de contrôle",
    description="L'auditeur appelant devient responsable du dossier (sans effet s'il l'est déjà). 409 "
                "`control_case_claimed` s'il est pris par un autre auditeur, `control_case_closed` s'il est clos.",
    operation_id="claim_control_case",
    dependencies=[caller_rule(access.require_may_control)],
    responses=problem_responses(401, 403, 404, 409),
)
async def claim(case_id: CaseId, principal: CurrentPrincipal, database: DatabaseDep) -> Any:
    return await database.writer.run(lambda session: use_cases.claim(session, principal, case_id))


@router.post(
    "/v1/control-cases/{case_id}/proof-requests",
    status_code=status.HTTP_201_CREATED,
    response_model=ProofRequestOut,
    summary="Demander une preuve d'usage (48 heures)",
    description="Demande au porteur la preuve d'un FINESS de la version contrôlée, à rendre sous 48 heures "
                "(`due_at`). Le dépôt d'une preuve pour ce FINESS et ce jalon y répond. Prend en charge le dossier "
                "s'il ne l'était pas. 422 `finess_not_in_version`.",
    operation_id="request_proof",
    dependencies=[caller_rule(access.require_may_control)],
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def request_proof(case_id: CaseId, payload: ProofRequestCreate, principal: CurrentPrincipal,
                        database: DatabaseDep, mailing: MailingDep) -> Any:
    command = ProofRequestCommand(finess=payload.finess, message=payload.message)
    return await database.writer.run(
        lambda session: use_cases.request_proof(session, principal, case_id, command, mailing=mailing))


@router.post(
    "/v1/control-cases/{case_id}/outcome",
    response_model=ControlCaseOut,
    summary="Conclure un contrôle",
    description="`compliant` ou `non_compliant` (motifs obligatoires dans `comment`) ; le dossier est clos.",
    operation_id="record_control_outcome",
    dependencies=[caller_rule(access.require_may_control)],
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def outcome(case_id: CaseId, payload: OutcomeCreate, principal: CurrentPrincipal,
                  database: DatabaseDep, mailing: MailingDep) -> Any:
    command = OutcomeCommand(outcome=payload.outcome.value, comment=payload.comment)
    return await database.writer.run(lambda session: use_cases.record_outcome(session, principal, case_id, command,
                                                                              mailing=mailing))


@router.get(
    "/v1/proof-requests",
    response_model=PageOut[ProofRequestOut],
    summary="Demandes de preuve",
    description="Les demandes de preuve du périmètre de l'appelant (un porteur voit celles qu'il doit honorer), "
                "de la plus proche échéance à la plus lointaine ; `status=overdue` pour les demandes échues sans "
                "réponse, `open`, `answered`.",
    operation_id="list_proof_requests",
    responses=problem_responses(401, 422),
)
def list_proof_requests(
    principal: CurrentPrincipal, session: ReadSession, page: Page,
    request_status: Annotated[Literal["open", "overdue", "answered"] | None,
                              Query(alias="status", description="open, overdue ou answered.")] = None,
) -> Any:
    return use_cases.list_proof_requests(session, principal, page, status=request_status)
