"""API models of review: what clients send and receive."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from service.domain.declaration import TEXT_PATTERN
from service.domain.lifecycle import Milestone
from service.domain.review import DECISIONS_NEEDING_COMMENT, Decision
from service.http.schemas import Actor, WarningJustification, required_text_when

Comment = Annotated[str | None, Field(default=None, max_length=2000,
                                      description="Obligatoire pour un rejet ou une demande de corrections.",
                                      json_schema_extra={"pattern": TEXT_PATTERN})]


class ReviewCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"decision": "changes_requested", "comment": "Le taux de dossiers actifs de 240000372 est à justifier."},
        {"decision": "accepted"},
    ], **required_text_when("decision", [d.value for d in DECISIONS_NEEDING_COMMENT], "comment")})

    decision: Decision = Field(description="accepted, rejected ou changes_requested.")
    comment: Comment = None


class ReviewOut(BaseModel):
    id: str
    submission_id: str
    decision: Decision
    comment: str | None
    decided_at: datetime
    decided_by: Actor | None


class DeadlineOut(BaseModel):
    due_on: date | None = Field(description="Échéance de la fin de projet (VSR + 3 mois, ou report).")
    days_left: int | None = Field(description="Jours restants avant l'échéance ; négatif une fois dépassée.")
    overdue: bool


class ReviewQueueItem(DeadlineOut):
    id: str = Field(description="Identifiant de la version à examiner.")
    galis_ref: str
    region_code: str
    milestone: Milestone
    version: int
    received_at: datetime
    row_count: int
    warning_count: int
    targets_met: bool
    justifications: list[WarningJustification] = Field(description="Les alertes justifiées par le porteur (fin "
                                                                   "de projet).")


class MilestoneStanding(DeadlineOut):
    milestone: Milestone
    opened_on: date | None
    latest_version: dict[str, Any] | None = Field(description="id, version, received_at, targets_met, warning_count.")
    review: ReviewOut | None
    control: dict[str, Any] | None = Field(description="case_id, status, score, outcome.")
    proofs_missing: list[str] | None = None


class LifecycleOut(BaseModel):
    galis_ref: str
    region_code: str
    porteur_name: str
    status: Literal["open", "closed"]
    closed_on: date | None
    milestones: list[MilestoneStanding]


