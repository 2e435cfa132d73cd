"""API models: what clients send and receive, documented for the OpenAPI description.

Field descriptions give the official French label and the template column.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, StrictStr

from service.domain.declaration import COLUMNS, TEXT_PATTERN, readable
from service.domain.errors import InvalidIdentifier
from service.domain.identifiers import REGIONS, Finess, GalisRef, Siret
from service.domain.lifecycle import EventType, Milestone
from service.domain.review import Decision, Outcome

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
FINESS_SCHEMA: dict[str, Any] = {"type": "string", "pattern": r"^[0-9][0-9AB][0-9]{7}$", "minLength": 9,
                                 "maxLength": 9, "format": "finess"}
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
GalisRefStr = Annotated[StrictStr, Field(description="Référence de la demande GALIS (8 chiffres).",
                                         examples=["12345678"], json_schema_extra=GALIS_REF_SCHEMA),
                        _identifier(GalisRef)]

IsoDate = Annotated[date, Field(description="Date AAAA-MM-JJ."), BeforeValidator(_iso_date_only)]


def _col(field: str, extra: str = "") -> str:
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


# --- funding requests -------------------------------------------------------------------

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
    date: date
    until: date | None
    recorded_at: datetime


# --- submissions ------------------------------------------------------------------------

class SubmissionRowIn(BaseModel):
    """One establishment's absolute counts. Counts are JSON integers ≥ 0 (not strings)."""

    model_config = ConfigDict(extra="forbid")

    finess: StrictStr = Field(description=_col("finess", "9 caractères, chaîne (zéros initiaux)."),
                              json_schema_extra=FINESS_SCHEMA)
    raison_sociale: StrictStr | None = Field(default=None, max_length=300, description=_col("raison_sociale"))
    dmp_fed: StrictInt = Field(ge=0, description=_col("dmp_fed"))
    mss_messages_sent: StrictInt = Field(ge=0, description=_col("mss_messages_sent"))
    active_dui: StrictInt = Field(ge=0, description=_col("active_dui"))
    persons_accompanied: StrictInt = Field(ge=0, description=_col("persons_accompanied"))
    dui_with_personal_plan: StrictInt = Field(ge=0, description=_col("dui_with_personal_plan", "≤ G."))
    dui_with_agenda_event: StrictInt = Field(ge=0, description=_col("dui_with_agenda_event", "≤ G."))
    period_start: date = Field(description=_col("period_start", "AAAA-MM-JJ."))
    period_end: date = Field(description=_col("period_end", "AAAA-MM-JJ, pas dans le futur."))


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


class TargetSetOut(BaseModel):
    id: str
    label: str
    binding: bool = Field(description="Faux quand le solde n'est pas conditionné aux cibles (amorçage 2021).")
    values: dict[str, float]


class PushedBy(BaseModel):
    role: str
    label: str


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
    uploaded_by: PushedBy
    content_url: str = Field(description="Chemin du contenu (octets exacts, `Repr-Digest`).")
    answers_proof_requests: list[str] = Field(description="Les demandes de preuve de la CNSA auxquelles ce dépôt a "
                                                          "répondu.")


class SubmissionOut(BaseModel):
    id: str | None = Field(description="Identifiant de la version ; null pour un essai (dry_run).")
    galis_ref: str
    milestone: Milestone
    version: int | None = Field(description="Numéro de version (1, 2, 3 … par demande et jalon) ; null pour un essai.")
    received_at: datetime
    status: Literal["received", "dry_run"]
    source: Literal["json", "xlsx"]
    pushed_by: PushedBy
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


# --- review, control, audit ---------------------------------------------------------------

#: A text that must say something: at least one character other than a space.
_TEXT_CHAR = "[^\\u0000-\\u001f\\u007f-\\u009f\\ud800-\\udfff\\ufffe\\uffff]"
SAYS_SOMETHING = f"^{_TEXT_CHAR}*[^\\s\\u0000-\\u001f\\u007f-\\u009f\\ud800-\\udfff\\ufffe\\uffff]{_TEXT_CHAR}*$"


def _required_text_when(field: str, values: list[str], text_field: str) -> dict[str, Any]:
    """JSON Schema for "``text_field`` is required, and says something, when ``field`` is one of
    ``values``" (the service refuses it otherwise: ``comment_required``)."""
    return {"if": {"properties": {field: {"enum": values}}, "required": [field]},
            "then": {"required": [text_field],
                     "properties": {text_field: {"type": "string", "pattern": SAYS_SOMETHING}}}}


Comment = Annotated[str | None, Field(default=None, max_length=2000,
                                      description="Obligatoire pour un rejet ou une demande de corrections.",
                                      json_schema_extra={"pattern": TEXT_PATTERN})]


class ReviewCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"decision": "changes_requested", "comment": "Le taux de dossiers actifs de 240000372 est à justifier."},
        {"decision": "accepted"},
    ], **_required_text_when("decision", ["rejected", "changes_requested"], "comment")})

    decision: Decision = Field(description="accepted, rejected ou changes_requested.")
    comment: Comment = None


class ReviewOut(BaseModel):
    id: str
    submission_id: str
    decision: Decision
    comment: str | None
    decided_at: datetime
    decided_by: PushedBy | None


class DeadlineOut(BaseModel):
    due_on: date | None = Field(description="Échéance de la fin de projet (VSR + 3 mois, ou report).")
    days_left: int | None = Field(description="Jours restants avant l'échéance ; négatif une fois dépassée.")
    overdue: bool


class ReviewQueueItem(DeadlineOut):
    id: str = Field(description="Identifiant de la version à examiner.")
    galis_ref: str
    region_code: str
    milestone: Milestone
    version: int
    received_at: datetime
    row_count: int
    warning_count: int
    targets_met: bool
    justifications: list[WarningJustification] = Field(description="Les alertes justifiées par le porteur (fin "
                                                                   "de projet).")


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
    ], **_required_text_when("outcome", ["non_compliant"], "comment")})

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
    claimed_by: PushedBy | None
    claimed_at: datetime | None
    outcome: Outcome | None
    outcome_comment: str | None
    closed_at: datetime | None
    closed_by: PushedBy | None
    proof_requests: list[ProofRequestOut] | None = None


class AuditActor(BaseModel):
    key_id: int | None
    role: str
    label: str


class LogKeyOut(BaseModel):
    origin: str = Field(description="Origine du journal : première ligne de ses points de contrôle.")
    key_name: str
    key_id: str = Field(description="Identifiant de la clé (4 octets, hexadécimal).")
    public_key: str = Field(description="Clé publique Ed25519 (32 octets, base64).")
    vkey: str = Field(description="Clé de vérification C2SP : `<nom>+<identifiant>+<base64(0x01 ‖ clé)>`.")


class InclusionProofOut(BaseModel):
    index: int
    tree_size: int
    leaf_hash: str = Field(description="SHA-256(0x00 ‖ feuille), hexadécimal.")
    root_hash: str = Field(description="Racine de l'arbre de `tree_size` feuilles, hexadécimal.")
    hashes: list[str] = Field(description="Le chemin d'audit, du nœud voisin de la feuille à celui de la racine.")


class ConsistencyProofOut(BaseModel):
    first: int
    second: int
    first_root: str
    second_root: str
    hashes: list[str]


class AuditEventOut(BaseModel):
    seq: int = Field(description="Numéro de l'événement, unique et croissant (des numéros peuvent manquer ; "
                                 "l'ordre du journal est celui de `index`).")
    index: int | None = Field(description="Rang dans le journal vérifiable (0, 1, 2 …) ; null tant que l'événement "
                                          "n'est pas séquencé (une seconde au plus après l'enregistrement).")
    leaf: str = Field(description="Les octets exacts hachés dans l'arbre du journal (JSON canonique, base64).")
    occurred_at: datetime
    actor: AuditActor
    action: str
    object_type: str
    object_id: str
    galis_ref: str | None
    payload: dict[str, Any]
    payload_digest: str = Field(description="SHA-256 du contenu (JSON canonique).")
    prev_hash: str | None = Field(description="Empreinte de l'événement précédent dans la chaîne d'audit qui a "
                                              "précédé le journal vérifiable ; null pour les événements "
                                              "postérieurs, liés par l'arbre du journal.")
    hash: str = Field(description="Empreinte de cet événement, couvrant ses champs (et prev_hash s'il existe).")


class MilestoneStanding(DeadlineOut):
    milestone: Milestone
    opened_on: date | None
    latest_version: dict[str, Any] | None = Field(description="id, version, received_at, targets_met, warning_count.")
    review: ReviewOut | None
    control: dict[str, Any] | None = Field(description="case_id, status, score, outcome.")
    proofs_missing: list[str] | None = None


class LifecycleOut(BaseModel):
    galis_ref: str
    region_code: str
    porteur_name: str
    status: Literal["open", "closed"]
    closed_on: date | None
    milestones: list[MilestoneStanding]


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


class SignatureStatus(BaseModel):
    """Each flag answers one question; only ``ReportVerification.valid`` says the document can be trusted."""

    present: bool = Field(description="Le fichier porte une signature du service (champ « SignatureService »).")
    intact: bool = Field(description="Aucun octet couvert par la signature n'a changé depuis la signature.")
    valid: bool = Field(description="La signature est mathématiquement correcte pour le document tel qu'il est : "
                                    "faux dès qu'un octet signé a changé (elle n'est alors plus intacte).")
    trusted: bool = Field(description="La signature a été faite avec le certificat du service (actuel ou retiré) ; "
                                      "ne dit rien de l'intégrité du document.")
    covers_whole_file: bool = Field(description="Rien n'a été ajouté au document après la signature.")
    signer: str | None = Field(description="Le titulaire du certificat signataire, tel qu'il s'y nomme.")
    signed_at: datetime | None = Field(description="L'heure de signature déclarée par le signataire.")


class ReportVerification(BaseModel):
    valid: bool = Field(description="Vrai seulement quand la signature est présente, intacte, valide, du service, "
                                    "et couvre tout le fichier : le document est celui que le service a émis.")
    message: str
    signature: SignatureStatus
    certifies: dict[str, Any] | None = Field(
        description="La version certifiée : submission_id, data_digest et, si l'appelant la voit, galis_ref, "
                    "milestone, version, latest_version, is_latest, same_data_as_today.")


SubmissionOut.model_rebuild()


# --- evidence bundles, custody, the auditors' feed ------------------------------------------

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


# --- reference data: the FINESS registry --------------------------------------------------

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


# --- target sets ------------------------------------------------------------------------

def _readable_label(value: str) -> str:
    if not value.strip() or not readable(value):
        raise ValueError("text_unreadable: libellé vide ou avec des caractères de contrôle")
    return value


class TargetValues(BaseModel):
    model_config = ConfigDict(extra="forbid")

    active_files: float = Field(ge=0, le=100, description="DUI actifs / personnes accompagnées (%).")
    personal_plan: float = Field(ge=0, le=100, description="Projets personnalisés / DUI actifs (%).")
    agenda: float = Field(ge=0, le=100, description="Agendas renseignés / DUI actifs (%).")
    mssante: float = Field(ge=0, le=100, description="Messagerie sécurisée (%).")
    dmp: float = Field(ge=0, le=100, description="Alimentation du DMP (%).")


class TargetSetIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "id": "campagne-2025-ehpad", "label": "Campagne 2025, EHPAD", "campaign_year": 2025, "category": "500",
        "values": {"active_files": 90, "personal_plan": 90, "agenda": 90, "mssante": 70, "dmp": 70},
        "binding": True}]})

    id: StrictStr = Field(pattern=r"^[a-z0-9][a-z0-9-]{1,39}$", description="Identifiant (minuscules, chiffres, -).")
    label: Annotated[StrictStr, AfterValidator(_readable_label)] = Field(
        min_length=1, max_length=300, description="Texte qui fixe ces cibles.",
        json_schema_extra={"pattern": SAYS_SOMETHING})
    campaign_year: StrictInt | None = Field(default=None, ge=2021, le=2100,
                                            description="Campagne ; null pour toutes les campagnes.")
    category: StrictStr | None = Field(default=None, pattern=r"^[0-9]{3}$",
                                       description="Catégorie FINESS ; null pour toutes les catégories.")
    values: TargetValues
    binding: bool = Field(description="Le solde dépend-il de l'atteinte des cibles ?")


class TargetSetView(BaseModel):
    id: str
    label: str
    campaign_year: int | None
    category: str | None
    values: TargetValues
    binding: bool
    used: bool = Field(description="Au moins une version a été évaluée avec ce jeu : il ne peut plus changer.")


class TargetSetList(BaseModel):
    items: list[TargetSetView]


# --- peer statistics ------------------------------------------------------------------------

class IndicatorSummary(BaseModel):
    n: int = Field(description="Établissements dont le taux est calculable.")
    p25: float
    median: float
    p75: float
    met_share: float | None = Field(description="Part des établissements qui atteignent la cible (%).")


class StatisticsBlock(BaseModel):
    suppressed: bool = Field(description="Moins de 3 établissements : rien n'est publié (secret statistique).")
    establishments: int | None
    indicators: dict[str, IndicatorSummary | None] | None


class StatisticsGroup(StatisticsBlock):
    group: dict[str, str | None]


class IndicatorStatistics(BaseModel):
    milestone: Milestone
    group_by: list[str]
    quantile_method: str
    suppression_threshold: int
    scope: str | None = Field(description="Région des groupes pour une ARS ; null : tout le programme.")
    national: StatisticsBlock
    groups: list[StatisticsGroup]


class PeerStanding(BaseModel):
    peers: int | None = Field(description="Établissements de même catégorie au taux calculable.")
    percentile_rank: float | None = Field(description="Part des pairs sous ce taux, la moitié des égaux comptée (%).")
    median: float | None
    suppressed: bool = Field(description="Moins de 3 pairs : rien n'est publié.")


class ComparedIndicator(BaseModel):
    numerator: int
    denominator: int
    rate: float | None
    target: float
    met: bool | None
    national: PeerStanding
    region: PeerStanding


class EstablishmentComparison(BaseModel):
    finess: str
    galis_ref: str
    category: str | None
    region_code: str
    milestone: Milestone
    version: int | None = Field(description="Dernière version du jalon ; null s'il n'y en a pas encore.")
    suppression_threshold: int
    indicators: dict[str, ComparedIndicator] | None


class ReportingGroup(BaseModel):
    group: str = Field(description="Code de région, ou éditeur (libellé de la clé qui a transmis la dernière version).")
    requests: int
    milestone_open: int = Field(description="Demandes dont le jalon est ouvert (et non soldées).")
    with_version: int = Field(description="Demandes ayant transmis au moins une version du jalon.")
    on_time: int = Field(description="Dernière version reçue avant l'échéance (fin de projet ; VA : toute version).")
    late: int = Field(description="Dernière version reçue après l'échéance, ou échéance passée sans version.")
    accepted: int
    rejected: int
    changes_requested: int
    proofs_complete: int = Field(description="Fin de projet : plus aucune preuve manquante dans le contrôle.")


class ReportingStatistics(BaseModel):
    milestone: Milestone
    group_by: Literal["region", "vendor"]
    scope: str | None
    groups: list[ReportingGroup]


# --- a dry run's diff ---------------------------------------------------------------------

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


# --- obligations ------------------------------------------------------------------------------

class ObligationReview(BaseModel):
    decision: Decision
    decided_at: datetime
    comment: str | None


class OpenProofRequest(BaseModel):
    id: str
    finess: str
    due_at: datetime
    overdue: bool


class Obligation(BaseModel):
    galis_ref: str
    milestone: Milestone
    open: bool
    due_on: date | None
    days_left: int | None
    latest_version: int | None
    latest_received_at: datetime | None
    review: ObligationReview | None
    targets_met: bool | None
    proofs_missing: list[str] = Field(description="Fin de projet : FINESS dont les chiffres n'ont pas de preuve.")
    open_proof_requests: list[OpenProofRequest]
    next_action: Literal["answer_proof_request", "push", "resubmit", "upload_proofs", "await_review", "none"]


# --- webhooks ---------------------------------------------------------------------------------

WebhookEvent = Literal["submission.stored", "review.decided", "proof.stored", "proof_request.opened",
                       "proof_request.overdue", "milestone.opened", "deadline.extended", "request.closed"]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"url": "https://dui.example.fr/hooks/esms", "events": ["submission.stored", "review.decided"],
         "description": "Suivi des versions de nos clients"},
    ]})

    url: StrictStr = Field(min_length=1, max_length=2000,
                           description="Adresse https du destinataire ; refusée si l'hôte désigne une adresse de "
                                       "bouclage, privée ou lien-local (422 `webhook_url_forbidden`).")
    events: list[WebhookEvent] = Field(min_length=1, max_length=8, description="Événements voulus.")
    description: StrictStr = Field(default="", max_length=500, description="Libellé libre.")


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[WebhookEvent]
    description: str
    status: Literal["active", "disabled"] = Field(description="`disabled` : le destinataire a répondu 410, ou la clé "
                                                              "a été révoquée ou a expiré.")
    created_at: datetime
    disabled_at: datetime | None
    disabled_reason: str | None


class WebhookCreated(WebhookOut):
    secret: str = Field(description="Secret de signature (`whsec_…`), affiché cette fois seulement.")


class WebhookAttemptOut(BaseModel):
    attempted_at: datetime
    status_code: int | None = Field(description="Statut HTTP de la réponse ; null sans réponse.")
    duration_ms: int
    error: str | None = Field(description="Pourquoi la tentative a échoué, en clair ; null si livrée.")


class WebhookDeliveryOut(BaseModel):
    id: str = Field(description="L'en-tête `webhook-id`, identique à chaque tentative.")
    event: WebhookEvent
    created_at: datetime
    status: Literal["pending", "delivered", "failed", "cancelled"]
    attempt_count: int
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    last_status_code: int | None
    attempts: list[WebhookAttemptOut]
