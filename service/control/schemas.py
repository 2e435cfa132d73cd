"""API models of control: what clients send and receive."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from service.domain.declaration import SAYS_SOMETHING, TEXT_PATTERN
from service.domain.lifecycle import Milestone
from service.domain.review import OUTCOMES_NEEDING_COMMENT, Outcome
from service.http.schemas import FINESS_SCHEMA, Actor, required_text_when


class RiskReasonOut(BaseModel):
    code: str
    message: str = Field(description="Le motif, en une phrase.")
    points: int


class ProofRequestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"finess": "240000372", "message": "Merci de transmettre le rapport signé du nombre de DUI actifs."},
    ]})

    finess: StrictStr = Field(description="FINESS géographique de la version contrôlée.",
                              json_schema_extra=FINESS_SCHEMA)
    message: StrictStr = Field(min_length=1, max_length=2000, description="Ce qui est demandé.",
                               json_schema_extra={"pattern": SAYS_SOMETHING})


class ProofRequestOut(BaseModel):
    id: str
    case_id: str
    galis_ref: str
    milestone: Milestone
    finess: str
    message: str
    requested_at: datetime
    due_at: datetime = Field(description="48 heures après la demande.")
    status: Literal["open", "overdue", "answered"]
    overdue: bool = Field(description="Échéance dépassée (sans réponse, ou réponse tardive).")
    answered_at: datetime | None
    proof_id: str | None = Field(description="La preuve déposée qui a répondu.")


class OutcomeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"outcome": "non_compliant", "comment": "Les preuves ne montrent que des taux, pas de nombres absolus."},
        {"outcome": "compliant"},
    ], **required_text_when("outcome", [o.value for o in OUTCOMES_NEEDING_COMMENT], "comment")})

    outcome: Outcome = Field(description="compliant ou non_compliant.")
    comment: Annotated[str | None, Field(default=None, max_length=2000,
                                         description="Motifs, obligatoires pour non_compliant.",
                                         json_schema_extra={"pattern": TEXT_PATTERN})] = None


class ControlCaseOut(BaseModel):
    id: str
    submission_id: str
    galis_ref: str
    region_code: str
    milestone: Milestone
    version: int
    latest_version: int
    superseded: bool = Field(description="Une version plus récente du même jalon existe.")
    received_at: datetime
    score: int = Field(description="Score de risque de 0 à 100 : somme des points des motifs.")
    reasons: list[RiskReasonOut]
    status: Literal["open", "claimed", "closed"]
    opened_at: datetime
    claimed_by: Actor | None
    claimed_at: datetime | None
    outcome: Outcome | None
    outcome_comment: str | None
    closed_at: datetime | None
    closed_by: Actor | None
    proof_requests: list[ProofRequestOut] | None = None
