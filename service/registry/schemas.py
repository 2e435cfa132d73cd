"""API models of registry: what clients send and receive."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field


class FinessSnapshotOut(BaseModel):
    id: int
    sha256: str = Field(description="SHA-256 du fichier importé.")
    extract_version: int = Field(description="Version de l'extrait (première ligne du fichier).")
    extracted_on: date = Field(description="Date de l'extrait (première ligne du fichier).")
    filename: str | None
    size: int
    encoding: str = Field(description="Encodage reconnu : `utf-8` ou `cp1252` (Windows-1252).")
    establishments: int = Field(description="Établissements (FINESS ET) de l'extrait.")
    added: int = Field(description="Établissements nouveaux pour le registre.")
    closed: int = Field(description="Établissements du registre absents de cet extrait, fermés à sa date.")
    reopened: int = Field(description="Établissements fermés qui reparaissent dans cet extrait.")
    imported_at: datetime


class RegistryCategory(BaseModel):
    code: str | None
    label: str | None


class RegistryEstablishmentOut(BaseModel):
    finess: str
    finess_ej: str | None = Field(description="FINESS de l'entité juridique.")
    name: str
    long_name: str | None
    category: RegistryCategory
    department: str
    region_code: str | None = Field(description="Région de l'ARS ; null pour un territoire sans ARS.")
    siret: str | None
    opened_on: date | None
    updated_on: date | None
    status: Literal["open", "closed"]
    closed_on: date | None = Field(description="Date du premier extrait dont l'établissement était absent.")
    first_seen_on: date
    last_seen_on: date
