"""API models of submissions: what clients send and receive."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

from service.domain.declaration import MAX_NAME_LENGTH, TEXT_PATTERN
from service.domain.lifecycle import Milestone
from service.http.schemas import FINESS_SCHEMA, Actor, ProvenanceOut, SoftwareIn, VersionWarning, column_description
from service.proofs.schemas import ProofOut
from service.review.schemas import ReviewOut
from service.target_sets.schemas import TargetSetOut


class SubmissionRowIn(BaseModel):
    """One establishment's absolute counts. Counts are JSON integers ≥ 0 (not strings)."""

    model_config = ConfigDict(extra="forbid")

    finess: StrictStr = Field(description=column_description("finess", "9 caractères, chaîne (zéros initiaux)."),
                              json_schema_extra=FINESS_SCHEMA)
    raison_sociale: StrictStr | None = Field(default=None, max_length=MAX_NAME_LENGTH,
                                             description=column_description("raison_sociale"))
    dmp_fed: StrictInt = Field(ge=0, description=column_description("dmp_fed"))
    mss_messages_sent: StrictInt = Field(ge=0, description=column_description("mss_messages_sent"))
    active_dui: StrictInt = Field(ge=0, description=column_description("active_dui"))
    persons_accompanied: StrictInt = Field(ge=0, description=column_description("persons_accompanied"))
    dui_with_personal_plan: StrictInt = Field(ge=0, description=column_description("dui_with_personal_plan", "≤ G."))
    dui_with_agenda_event: StrictInt = Field(ge=0, description=column_description("dui_with_agenda_event", "≤ G."))
    period_start: date = Field(description=column_description("period_start", "AAAA-MM-JJ."))
    period_end: date = Field(description=column_description("period_end", "AAAA-MM-JJ, pas dans le futur."))


SUBMISSION_EXAMPLE: dict[str, Any] = {
    "milestone": "va",
    "rows": [{"finess": "240000372", "raison_sociale": "EHPAD Les Tilleuls",
              "dmp_fed": 40, "mss_messages_sent": 120, "active_dui": 95,
              "persons_accompanied": 100, "dui_with_personal_plan": 90,
              "dui_with_agenda_event": 93,
              "period_start": "2024-01-01", "period_end": "2024-03-31"}],
}


class AcknowledgementIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: StrictStr = Field(min_length=1, max_length=60, description="Code de l'alerte justifiée.",
                            examples=["rate_jump"])
    finess: StrictStr = Field(description="FINESS de la ligne de l'alerte.", json_schema_extra=FINESS_SCHEMA)
    justification: StrictStr = Field(min_length=10, max_length=2000, json_schema_extra={"pattern": TEXT_PATTERN},
                                     description="Pourquoi ce chiffre est juste (10 caractères au moins).")


class SubmissionCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [SUBMISSION_EXAMPLE]})

    milestone: Milestone = Field(description="Jalon : `va` (Vérification d'Aptitude) ou `fin_projet`.")
    rows: list[SubmissionRowIn] = Field(min_length=1, description="Une ligne par FINESS géographique de la demande.")
    software: SoftwareIn | None = Field(default=None, description="Le logiciel qui a produit les chiffres.")
    extracted_at: datetime | None = Field(default=None, description=(
        "Quand les chiffres ont été extraits (avec le fuseau) : ni dans le futur, ni avant la fin de la période "
        "d'une ligne."))
    acknowledgements: list[AcknowledgementIn] = Field(default_factory=list, description=(
        "En fin de projet, la justification de chaque alerte sur une ligne (sinon 422 `warning_not_acknowledged`, "
        "qui liste les alertes) ; gardées avec la version, montrées à l'ARS et à la CNSA."))


class IndicatorOut(BaseModel):
    numerator: int
    denominator: int
    rate: float | None = Field(description="Pourcentage arrondi au dixième ; null si le dénominateur vaut 0.")
    target: float
    met: bool | None = Field(description="Cible atteinte ; null si le taux n'est pas calculable.")


class IndicatorsOut(BaseModel):
    active_files: IndicatorOut = Field(description="Taux de dossiers actifs : G / H.")
    personal_plan: IndicatorOut = Field(description="Taux de dossiers actifs avec un projet personnalisé : I / G.")
    agenda: IndicatorOut = Field(description="Taux de dossiers actifs avec au moins un événement d'agenda : J / G.")
    mssante: IndicatorOut = Field(description="Taux d'utilisation de la MS Santé : F / I (peut dépasser 100 %).")
    dmp: IndicatorOut = Field(description="Taux d'utilisation du DMP : E / I.")


class SubmissionRowOut(BaseModel):
    row: int
    finess: str
    raison_sociale: str | None
    dmp_fed: int
    mss_messages_sent: int
    active_dui: int
    persons_accompanied: int
    dui_with_personal_plan: int
    dui_with_agenda_event: int
    period_start: date
    period_end: date
    target_set: str = Field(description="Jeu de cibles appliqué à cet établissement.")
    indicators: IndicatorsOut


class SubmissionOut(BaseModel):
    id: str | None = Field(description="Identifiant de la version ; null pour un essai (dry_run).")
    galis_ref: str
    milestone: Milestone
    version: int | None = Field(description="Numéro de version (1, 2, 3 … par demande et jalon) ; null pour un essai.")
    received_at: datetime
    status: Literal["received", "dry_run"]
    source: Literal["json", "xlsx"]
    pushed_by: Actor
    supersedes_version: int | None = Field(description="Version remplacée par celle-ci.")
    fingerprint: str = Field(description="SHA-256 des données déclarées (empreinte de la version).")
    rows: list[SubmissionRowOut]
    warnings: list[VersionWarning] = Field(description="Alertes : la déclaration est acceptée mais signalée ; en fin "
                                                       "de projet, chacune avec sa justification.")
    targets_met: bool = Field(description="Toutes les cibles atteintes par tous les établissements.")
    target_sets: list[TargetSetOut]
    proofs: list[ProofOut] | None = Field(
        default=None, description="Consultation d'une version : les preuves qui la couvrent, par FINESS (déposées "
                                  "pour elle, ou pour une version antérieure aux mêmes chiffres et période).")
    proofs_missing: list[str] | None = Field(
        default=None, description="Consultation d'une version : les FINESS qu'aucune preuve ne couvre.")
    reviews: list[ReviewOut] | None = Field(default=None, description="Consultation d'une version : la décision "
                                                                      "de l'ARS, s'il y en a une.")
    provenance: ProvenanceOut | None = Field(default=None, description="D'où viennent les chiffres, si l'envoi l'a "
                                                                       "dit : logiciel et date d'extraction.")


class SubmissionSummary(BaseModel):
    id: str
    galis_ref: str
    milestone: Milestone
    version: int
    received_at: datetime
    status: Literal["received"]
    row_count: int
    warning_count: int
    targets_met: bool


class FieldChange(BaseModel):
    field: str
    column: str = Field(description="Colonne du modèle de la CNSA (D à L).")
    before: str | int | None
    after: str | int | None


class MetChange(BaseModel):
    indicator: str
    before: bool | None
    after: bool | None


class RowChange(BaseModel):
    finess: str
    fields: list[FieldChange]
    indicators: list[MetChange] = Field(description="Indicateurs dont l'atteinte de la cible change.")


class VersionDiff(BaseModel):
    against_version: int | None = Field(description="La dernière version du jalon ; null s'il n'y en a pas.")
    changed: list[RowChange]
    added: list[str] = Field(description="FINESS absents de la dernière version.")
    removed: list[str] = Field(description="FINESS de la dernière version absents de cet envoi.")


class PushedSubmissionOut(SubmissionOut):
    diff: VersionDiff | None = Field(default=None, description="Envoi à blanc (`dry_run=true`) seulement : ce qui "
                                                               "changerait par rapport à la dernière version.")
