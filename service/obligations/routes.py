"""What each caller must do next."""

from __future__ import annotations

from typing import Any

from service.http.deps import CurrentPrincipal, Page, ReadSession, Today
from service.http.problems import problem_responses
from service.http.routing import api_router
from service.http.schemas import Page as PageOut
from service.models import utcnow
from service.obligations import use_cases
from service.obligations.schemas import Obligation

router = api_router(tags=["demandes-de-financement"])


@router.get(
    "/v1/obligations",
    response_model=PageOut[Obligation],
    summary="Ce qu'il reste à faire",
    description="Une ligne par demande et par jalon ouvert ou déjà transmis, dans le périmètre de la clé, la plus "
                "urgente d'abord, avec l'action attendue (`next_action`) : `answer_proof_request` (la CNSA attend "
                "une preuve sous 48 h), `push` (jalon ouvert sans version), `resubmit` (version rejetée ou à "
                "corriger), `upload_proofs` (fin de projet : établissements sans preuve), `await_review` (décision "
                "de l'ARS attendue), `none`.",
    operation_id="list_obligations",
    responses=problem_responses(401, 422),
)
def list_obligations(principal: CurrentPrincipal, session: ReadSession, page: Page, today: Today) -> Any:
    return use_cases.obligations(session, principal, page, today=today, now=utcnow())
