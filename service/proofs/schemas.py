"""API models of proofs: what clients send and receive."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from service.domain.lifecycle import Milestone
from service.http.schemas import Actor


class ProofOut(BaseModel):
    id: str
    submission_id: str = Field(description="Version pour laquelle la preuve a été déposée.")
    galis_ref: str
    milestone: Milestone
    finess: str
    sha256: str = Field(description="Empreinte SHA-256 (hexadécimal) des octets déposés.")
    media_type: Literal["application/pdf", "image/png", "image/jpeg"]
    size: int = Field(description="Taille en octets.")
    filename: str | None = Field(description="Nom du fichier déposé, pour information.")
    measured_on: date
    period_start: date
    period_end: date
    signed_by: str
    uploaded_at: datetime
    uploaded_by: Actor
    content_url: str = Field(description="Chemin du contenu (octets exacts, `Repr-Digest`).")
    answers_proof_requests: list[str] = Field(description="Les demandes de preuve de la CNSA auxquelles ce dépôt a "
                                                          "répondu.")
