"""API models of access: keys and who calls."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from service.http.schemas import IsoDate

RoleName = Literal["admin", "ars_reviewer", "cnsa_auditor", "porteur", "vendor"]


class OrganisationRef(BaseModel):
    id: int
    name: str
    kind: Literal["porteur", "editeur", "ars", "cnsa", "administration"]


class ApiKeyOut(BaseModel):
    prefix: str = Field(description="Début de la clé, affiché à sa création : c'est ainsi qu'on la désigne.",
                        examples=["esms_6Lu3dEU"])
    role: RoleName = Field(description="Le rôle de son organisation.")
    manager: bool = Field(description="Clé de gestionnaire : gère les personnes, les clés et les mandats de "
                                      "l'organisation.")
    organisation: OrganisationRef | None
    region_code: str | None = Field(description="Région d'une clé ARS.")
    siret: str | None = Field(description="SIRET d'une clé porteur.")
    label: str
    created_at: datetime
    last_used_at: datetime | None = Field(description="Dernière utilisation, à la minute près ; null si jamais.")
    expires_on: date | None = Field(description="Premier jour où la clé est refusée ; null : sans expiration.")
    revoked_at: datetime | None
    status: Literal["active", "revoked", "expired"]


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"label": "Logiciel DUI, serveur de production", "role": "member"}]})

    label: StrictStr = Field(min_length=1, max_length=200, description="À quoi sert la clé, qui la détient.")
    role: Literal["member", "manager"] = Field(default="member", description="manager : la clé peut gérer les "
                                                                             "personnes, les clés et les mandats.")
    expires_on: IsoDate | None = Field(default=None, description="Premier jour où la clé est refusée.")


class ApiKeyCreated(ApiKeyOut):
    secret: str = Field(description="La clé elle-même, affichée cette seule fois : conservez-la.")


class ApiKeyRotate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{}, {"old_expires_on": "2026-12-31"}]})

    old_expires_on: IsoDate | None = Field(
        default=None, description="Premier jour où l'ancienne clé sera refusée (au plus tard dans 31 jours), le "
                                  "temps de la remplacer là où elle sert ; absent : elle est révoquée tout de suite.")
    expires_on: IsoDate | None = Field(default=None, description="Premier jour où la nouvelle clé sera refusée.")


class ApiKeyRotated(ApiKeyCreated):
    replaces: ApiKeyOut = Field(description="L'ancienne clé, révoquée ou avec sa nouvelle date d'expiration.")


class Scope(BaseModel):
    region_code: str | None
    siret: str | None
    galis_refs: list[str] | None = Field(description="Les demandes pour lesquelles un éditeur est mandaté "
                                                     "aujourd'hui ; null pour les autres organisations.")


class MeOut(BaseModel):
    type: Literal["person", "api_key"]
    id: int = Field(description="La personne ou la clé.")
    name: str
    role: RoleName
    manager: bool
    organisation: OrganisationRef | None
    scope: Scope
