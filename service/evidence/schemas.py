"""API models of evidence: what clients send and receive."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from service.audit.schemas import AuditActor
from service.domain.lifecycle import Milestone
from service.domain.review import Decision
from service.http.schemas import Page


class CustodyRead(BaseModel):
    seq: int = Field(description="Numéro de l'événement d'audit qui consigne la lecture.")
    index: int | None = Field(description="Rang de cet événement dans le journal vérifiable (null tant qu'il "
                                          "n'est pas séquencé).")
    read_at: datetime
    reader: AuditActor
    route: str | None = Field(description="La route appelée, par exemple `GET /v1/proofs/{proof_id}/content`.")
    path: str | None = Field(description="Le chemin effectivement appelé.")
    bundle: str | None = Field(description="Le dossier de preuve (BagIt) qui portait la preuve, le cas échéant.")


class CustodyPage(Page[CustodyRead]):
    proof_id: str


class ChangedVersion(BaseModel):
    id: str
    galis_ref: str
    region_code: str
    milestone: Milestone
    version: int
    received_at: datetime
    changed_at: datetime = Field(description="Dernier changement : réception, décision de l'ARS ou preuve déposée.")
    review: Decision | None = Field(description="Décision de l'ARS, s'il y en a une.")
    url: str


class ChangedVersionPage(Page[ChangedVersion]):
    as_of: datetime = Field(description="Le fil est complet jusqu'à cet instant (quelques secondes avant la "
                                        "réponse) : reprendre de là avec `updated_since`.")
