"""API models of access: what clients send and receive."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field


class ApiKeyOut(BaseModel):
    prefix: str = Field(description="Début de la clé, affiché à sa création : c'est ainsi qu'on la désigne.",
                        examples=["esms_6Lu3dEU"])
    role: Literal["admin", "ars_reviewer", "cnsa_auditor", "porteur", "vendor"]
    region_code: str | None = Field(description="Région d'une clé ARS.")
    siret: str | None = Field(description="SIRET d'une clé porteur.")
    galis_refs: list[str] = Field(description="Références mandatées d'une clé éditeur.")
    label: str
    created_at: datetime
    last_used_at: datetime | None = Field(description="Dernière utilisation, à la minute près ; null si jamais.")
    expires_on: date | None = Field(description="Premier jour où la clé est refusée ; null : sans expiration.")
    revoked_at: datetime | None
    status: Literal["active", "revoked", "expired"]
