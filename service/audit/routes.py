"""The audit trail, read-only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query

from service.audit import use_cases
from service.audit.schemas import AuditEventOut
from service.http.deps import CurrentPrincipal, Page, ReadSession
from service.http.problems import problem_responses
from service.http.routing import api_router
from service.http.schemas import GALIS_REF_SCHEMA
from service.http.schemas import Page as PageOut

router = api_router(tags=["journal-audit"])


@router.get(
    "/v1/audit-events",
    response_model=PageOut[AuditEventOut],
    summary="Journal d'audit",
    description="Chaque changement (demande, jalon, version, preuve, décision, contrôle, clé), qui, quand, quoi, "
                "dans l'ordre de la chaîne ; chaque événement porte l'empreinte de son contenu et celle de son "
                "prédécesseur (`python -m service audit verify` vérifie la chaîne). Filtre `galis_ref` ; une ARS "
                "voit sa région, un porteur ou un éditeur ses demandes, la CNSA tout.",
    operation_id="list_audit_events",
    responses=problem_responses(401, 403, 404, 422),
)
def list_audit_events(
    principal: CurrentPrincipal, session: ReadSession, page: Page,
    galis_ref: Annotated[str | None, Query(description="Référence de la demande GALIS (8 chiffres).",
                                           json_schema_extra=GALIS_REF_SCHEMA)] = None,
) -> Any:
    return use_cases.list_events(session, principal, page, galis_ref=galis_ref)
