"""API models of funding requests: what clients send and receive."""

from __future__ import annotations

import datetime as dt
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from service.domain.lifecycle import EventType
from service.http.schemas import EmailAddress, FinessStr, GalisRefStr, IsoDate, ProblemIssue, SiretStr


class EstablishmentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    finess: FinessStr
    name: StrictStr | None = Field(default=None, min_length=1, max_length=300, examples=["EHPAD Les Tilleuls"],
                                   description="Raison sociale ; lue dans le répertoire FINESS si omise (une fois "
                                               "un extrait importé).")
    category: StrictStr | None = Field(default=None, pattern=r"^[0-9]{3}$",
                                       description="Catégorie FINESS (categetab), ex. 500 pour un EHPAD.",
                                       examples=["500"])


class FundingRequestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "galis_ref": "12345678", "siret": "73282932000074", "porteur_name": "Association X",
        "campaign_year": 2024,
        "establishments": [{"finess": "240000372", "name": "EHPAD Les Tilleuls", "category": "500"}],
    }]})

    galis_ref: GalisRefStr
    siret: SiretStr
    porteur_name: StrictStr = Field(min_length=1, max_length=300, description="Nom du porteur.")
    campaign_year: StrictInt = Field(ge=2021, le=2100, description="Année de campagne (fixe les cibles).")
    establishments: list[EstablishmentIn] = Field(min_length=1, max_length=5000,
                                                  description="Établissements (FINESS géographiques) de la grappe.")
    contact_email: EmailAddress | None = Field(default=None, description="Adresse de contact du porteur (son "
                                                                         "organisation la garde si elle n'en a pas "
                                                                         "encore).")


class EstablishmentOut(BaseModel):
    finess: str
    name: str
    category: str | None


class VaState(BaseModel):
    open: bool
    opened_on: date | None


class FinProjetState(BaseModel):
    open: bool
    opened_on: date | None
    due_on: date | None = Field(description="Échéance d'envoi des données et preuves (VSR + 3 mois, prolongeable).")
    overdue: bool = Field(description="Échéance dépassée sans que le solde soit payé.")


class MilestonesOut(BaseModel):
    va: VaState
    fin_projet: FinProjetState


class FundingRequestOut(BaseModel):
    galis_ref: str
    siret: str
    porteur_name: str
    campaign_year: int
    region_code: str
    region_name: str
    status: Literal["open", "closed"]
    closed_on: date | None
    milestones: MilestonesOut
    establishments: list[EstablishmentOut]
    created_at: datetime


class FundingRequestImportOut(BaseModel):
    created: int = Field(description="Demandes enregistrées par ce fichier.")
    establishments: int = Field(description="Établissements de ces demandes.")
    requests: list[str] = Field(description="Références des demandes enregistrées.")
    unchanged: list[str] = Field(description="Références déjà enregistrées à l'identique, laissées telles quelles.")
    dry_run: bool


class FundingRequestCreated(FundingRequestOut):
    warnings: list[ProblemIssue] = Field(description="Écarts avec le répertoire FINESS (raison sociale, "
                                                     "catégorie) : la demande est enregistrée telle quelle.")


class LifecycleEventCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"type": "va_validated", "date": "2024-03-01"},
        {"type": "deadline_extended", "date": "2024-09-01", "until": "2024-12-31"},
    ], "if": {"properties": {"type": {"const": "deadline_extended"}}, "required": ["type"]},
        "then": {"required": ["until"], "properties": {"until": {"type": "string"}}},
        "else": {"properties": {"until": {"type": "null"}}}})

    type: EventType = Field(description="va_validated, vsr_validated, deadline_extended ou balance_paid.")
    date: IsoDate
    until: IsoDate | None = Field(default=None, description="Nouvelle échéance, pour deadline_extended seulement.")


class LifecycleEventOut(BaseModel):
    type: EventType
    date: dt.date
    until: dt.date | None
    recorded_at: datetime
