"""API models shared by every capability: problems, pages, identifiers, dates, texts.

Field descriptions give the official French label and the template column.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, EmailStr, Field, StrictStr

from service.domain.declaration import COLUMNS, SAYS_SOMETHING, TEXT_PATTERN
from service.domain.errors import InvalidIdentifier
from service.domain.identifiers import FINESS_ALL_ZERO, FINESS_PATTERN, REGIONS, Finess, GalisRef, Siret

T = TypeVar("T")


_ISO = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_date_only(value: object) -> object:
    """Accept only ``YYYY-MM-DD`` strings (pydantic would take 0 as 1970-01-01)."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _ISO.fullmatch(value):
        raise ValueError(f"invalid_date: date invalide (lu « {value} », attendu AAAA-MM-JJ)")
    return value


def _identifier(kind: type[Finess] | type[Siret] | type[GalisRef], *, with_region: bool = False) -> AfterValidator:
    """Validate with the domain value object; its code and French message reach the client.

    ``with_region`` also requires a FINESS to fall under one of the ARS.
    """

    def check(value: str) -> str:
        try:
            parsed = kind.parse(value)
            if with_region and isinstance(parsed, Finess):
                _ = parsed.region_code
            return parsed.value
        except InvalidIdentifier as exc:
            raise ValueError(f"{exc.code}: {exc.message}") from None

    return AfterValidator(check)


# What the description says of each identifier, for clients and their generators. The service
# checks more than a pattern can say (the FINESS key, the département, the SIRET key) and says
# in French what it refused; the custom ``format`` names that rule.
FINESS_SCHEMA: dict[str, Any] = {"type": "string", "pattern": f"^{FINESS_PATTERN}$", "minLength": 9,
                                 "maxLength": 9, "format": "finess", "not": {"const": FINESS_ALL_ZERO}}


SIRET_SCHEMA: dict[str, Any] = {"type": "string", "pattern": r"^[0-9]{14}$", "minLength": 14, "maxLength": 14,
                                "format": "siret"}


GALIS_REF_SCHEMA: dict[str, Any] = {"type": "string", "pattern": r"^[0-9]{8}$", "minLength": 8, "maxLength": 8}


REGION_SCHEMA: dict[str, Any] = {"type": "string", "enum": sorted(REGIONS)}


#: A page's cursor is opaque: pass back the ``next_cursor`` of the previous page.
CURSOR_SCHEMA: dict[str, Any] = {"type": "string", "pattern": r"^[A-Za-z0-9_-]+$", "minLength": 1,
                                 "maxLength": 1000}


FinessStr = Annotated[StrictStr, Field(description="FINESS géographique (9 caractères, clé de Luhn).",
                                       examples=["240000372"], json_schema_extra=FINESS_SCHEMA),
                      _identifier(Finess, with_region=True)]


SiretStr = Annotated[StrictStr, Field(description="SIRET du porteur (14 chiffres, clé de Luhn).",
                                      examples=["73282932000074"], json_schema_extra=SIRET_SCHEMA),
                     _identifier(Siret)]


#: An e-mail address (checked by ``email-validator``), lower-cased: people and organisations are
#: found by it whatever the case it was typed in.
EmailAddress = Annotated[EmailStr, AfterValidator(str.lower), Field(max_length=254)]
GalisRefStr = Annotated[StrictStr, Field(description="Référence de la demande GALIS (8 chiffres).",
                                         examples=["12345678"], json_schema_extra=GALIS_REF_SCHEMA),
                        _identifier(GalisRef)]


IsoDate = Annotated[date, Field(description="Date AAAA-MM-JJ."), BeforeValidator(_iso_date_only)]


def column_description(field: str, extra: str = "") -> str:
    letter, label = COLUMNS[field]
    return f"« {label} » (colonne {letter} du modèle CNSA).{(' ' + extra) if extra else ''}"


class ProblemIssue(BaseModel):
    row: int | None = Field(description="Ligne (1 = première ligne de `rows`, ou numéro de ligne du tableur).")
    column: str | None = Field(description="Lettre de colonne du modèle CNSA (A–L) quand le champ en a une.")
    field: str | None = Field(description="Champ concerné.")
    code: str = Field(description="Code stable, en anglais, sur lequel un client peut s'appuyer.")
    message: str = Field(description="Explication en français.")


class SoftwareOut(BaseModel):
    name: str
    version: str | None


class ProvenanceOut(BaseModel):
    software: SoftwareOut | None
    extracted_at: datetime | None


class SoftwareIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: StrictStr = Field(min_length=1, max_length=100, examples=["DUI Facile"],
                            json_schema_extra={"pattern": TEXT_PATTERN})
    version: StrictStr = Field(min_length=1, max_length=100, examples=["4.2.1"],
                               json_schema_extra={"pattern": TEXT_PATTERN})


class WarningJustification(BaseModel):
    finess: str
    code: str
    justification: str


class VersionWarning(ProblemIssue):
    finess: str | None = Field(default=None, description="FINESS de la ligne de l'alerte, s'il y en a une.")
    justification: str | None = Field(default=None, description="Justification donnée par le porteur (exigée en "
                                                                "fin de projet pour chaque alerte sur une ligne).")


class ProblemDetails(BaseModel):
    """RFC 9457 problem details."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[ProblemIssue] | None = None


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        description="À repasser dans `cursor` pour la page suivante ; null en fin de liste.")


def required_text_when(field: str, values: list[str], text_field: str) -> dict[str, Any]:
    """JSON Schema for "``text_field`` is required, and says something, when ``field`` is one of
    ``values``" (the service refuses it otherwise: ``comment_required``)."""
    return {"if": {"properties": {field: {"enum": values}}, "required": [field]},
            "then": {"required": [text_field],
                     "properties": {text_field: {"type": "string", "pattern": SAYS_SOMETHING}}}}


class ActorOrganisation(BaseModel):
    id: int
    name: str
    kind: Literal["porteur", "editeur", "ars", "cnsa", "administration"]


class Actor(BaseModel):
    """Who did it: a person of an organisation, an API key of one, or the service itself (its
    command line)."""

    type: Literal["person", "api_key", "service"]
    id: int | None = Field(description="La personne ou la clé (null pour le service lui-même).")
    name: str = Field(description="« Marie Dupont », ou le libellé de la clé.")
    organisation: ActorOrganisation | None
    role: str = Field(description="Rôle de l'organisation (porteur, vendor, ars_reviewer, cnsa_auditor, admin).")
    label: str = Field(description="Libellé enregistré : celui de la clé, ou « Prénom Nom (organisation) ».")
