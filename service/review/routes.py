"""ARS review of versions, the review queue, and where a request stands."""

from __future__ import annotations

from typing import Any

from fastapi import status

from service.domain import access
from service.domain.review import ReviewCommand
from service.http.deps import (
    CurrentPrincipal,
    DatabaseDep,
    GalisRefPath,
    MailingDep,
    Page,
    ReadSession,
    SubmissionIdPath,
    Today,
)
from service.http.problems import problem_responses
from service.http.routing import api_router, caller_rule
from service.http.schemas import Page as PageOut
from service.review import use_cases
from service.review.schemas import LifecycleOut, ReviewCreate, ReviewOut, ReviewQueueItem

router = api_router(tags=["examen-ars"])


@router.post(
    "/v1/submissions/{submission_id}/reviews",
    status_code=status.HTTP_201_CREATED,
    response_model=ReviewOut,
    summary="Rendre la décision de l'ARS sur une version",
    description="""\
L'ARS de la région (ou un administrateur) accepte (`accepted`), rejette (`rejected`) ou demande
des corrections (`changes_requested`, le porteur envoie alors une nouvelle version). Un
commentaire est obligatoire pour un rejet ou une demande de corrections (422 `comment_required`).

* Seule la dernière version d'un jalon est examinée (409 `submission_superseded`), une seule
  fois (409 `submission_already_reviewed`).
* Une version de fin de projet n'est acceptée que si chaque établissement a une preuve
  d'usage (409 `proofs_missing`, qui nomme les FINESS sans preuve).
* 409 `request_closed` après le paiement du solde.
""",
    operation_id="review_submission",
    dependencies=[caller_rule(access.require_may_review)],
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def review_submission(submission_id: SubmissionIdPath, payload: ReviewCreate, principal: CurrentPrincipal,
                            database: DatabaseDep, mailing: MailingDep) -> Any:
    command = ReviewCommand(decision=payload.decision.value, comment=payload.comment)
    return await database.writer.run(
        lambda session: use_cases.record_review(session, principal, submission_id, command, mailing=mailing))


@router.get(
    "/v1/review-queue",
    response_model=PageOut[ReviewQueueItem],
    summary="File d'examen de l'ARS",
    description="La dernière version de chaque demande et jalon de la région, sans décision, de la plus ancienne "
                "à la plus récente, avec son nombre d'alertes, les jours restants avant l'échéance de fin de projet "
                "et le dépassement de celle-ci. ARS (sa région) ou administrateur.",
    operation_id="review_queue",
    dependencies=[caller_rule(access.require_may_review)],
    responses=problem_responses(401, 403, 422),
)
def review_queue(principal: CurrentPrincipal, session: ReadSession, page: Page, today: Today) -> Any:
    return use_cases.review_queue(session, principal, page, today=today)


@router.get(
    "/v1/funding-requests/{galis_ref}/lifecycle",
    response_model=LifecycleOut,
    summary="Où en est une demande",
    description="En un appel : chaque jalon (ouverture, échéance, jours restants), sa dernière version, la "
                "décision de l'ARS sur celle-ci, le contrôle de la CNSA et, en fin de projet, les FINESS sans "
                "preuve. Même périmètre que la consultation de la demande.",
    operation_id="funding_request_lifecycle",
    responses=problem_responses(401, 404),
)
def lifecycle(galis_ref: GalisRefPath,
              principal: CurrentPrincipal, session: ReadSession, today: Today) -> Any:
    return use_cases.lifecycle(session, principal, galis_ref, today=today)
