"""API models of obligations: what clients send and receive."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from service.domain.lifecycle import Milestone
from service.domain.review import Decision


class ObligationReview(BaseModel):
    decision: Decision
    decided_at: datetime
    comment: str | None


class OpenProofRequest(BaseModel):
    id: str
    finess: str
    due_at: datetime
    overdue: bool


class Obligation(BaseModel):
    galis_ref: str
    milestone: Milestone
    open: bool
    due_on: date | None
    days_left: int | None
    latest_version: int | None
    latest_received_at: datetime | None
    review: ObligationReview | None
    targets_met: bool | None
    proofs_missing: list[str] = Field(description="Fin de projet : FINESS dont les chiffres n'ont pas de preuve.")
    open_proof_requests: list[OpenProofRequest]
    next_action: Literal["answer_proof_request", "push", "resubmit", "upload_proofs", "await_review", "none"]
