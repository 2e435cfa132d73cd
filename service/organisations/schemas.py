"""API models of organisations, people and mandates."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from service.http.schemas import Actor, EmailAddress, IsoDate, SiretStr

OrganisationKind = Literal["porteur", "editeur", "ars", "cnsa", "administration"]
PersonRole = Literal["member", "manager"]


class OrganisationOut(BaseModel):
    id: int
    kind: OrganisationKind = Field(description="porteur (un par SIRET), editeur (éditeur DUI), ars (une par "
                                               "région), cnsa, administration.")
    name: str
    siret: str | None
    region_code: str | None
    contact_email: str | None
    created_at: datetime


class EditeurCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"kind": "editeur", "name": "Éditeur DUI SA", "siret": "73282932000074", "contact_email": "support@x.fr"}]})

    kind: Literal["editeur"] = Field(description="Seuls les éditeurs sont enregistrés ainsi ; les autres "
                                                 "organisations existent d'office.")
    name: StrictStr = Field(min_length=1, max_length=300)
    siret: SiretStr
    contact_email: EmailAddress | None = None


class OrganisationPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    name: StrictStr | None = Field(default=None, min_length=1, max_length=300)
    contact_email: EmailAddress | None = None


class PersonInvite(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"email": "marie.dupont@ars.sante.fr", "role": "manager"}]})

    email: EmailAddress = Field(description="Adresse avec laquelle la personne se connecte par "
                                                        "ProConnect.")
    role: PersonRole = "member"
    given_name: StrictStr | None = Field(default=None, max_length=200)
    usual_name: StrictStr | None = Field(default=None, max_length=200)


class PersonPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    role: PersonRole | None = None
    active: bool | None = Field(default=None, description="false : la personne ne peut plus se connecter et ses "
                                                          "sessions prennent fin aussitôt.")


class PersonOut(BaseModel):
    id: int
    email: str
    given_name: str | None
    usual_name: str | None
    organisation_id: int
    role: PersonRole
    active: bool
    status: Literal["invited", "active", "deactivated"] = Field(
        description="invited : jamais connectée ; active ; deactivated.")
    invited_at: datetime
    last_sign_in_at: datetime | None


class MandateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"editeur_id": 21}]})

    editeur_id: StrictInt = Field(ge=1, le=2**31 - 1, description="L'organisation de l'éditeur mandaté.")
    starts_on: IsoDate | None = Field(default=None, description="Premier jour du mandat (par défaut : aussitôt).")
    ends_on: IsoDate | None = Field(default=None, description="Dernier jour du mandat (par défaut : sans fin).")


class MandateOut(BaseModel):
    id: str
    galis_ref: str
    editeur: OrganisationOut | None
    granted_by: Actor | None = Field(description="Qui l'a accordé (null pour un mandat repris des listes des "
                                                 "anciennes clés d'éditeur).")
    revoked_by: Actor | None = Field(description="Qui l'a retiré ; null tant qu'il ne l'est pas.")
    granted_at: datetime
    starts_on: date | None
    ends_on: date | None
    revoked_at: datetime | None
    active: bool = Field(description="En vigueur aujourd'hui : l'éditeur peut transmettre pour la demande.")
