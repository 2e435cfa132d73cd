"""Declarations of usage data (remontées) and their versions."""

from __future__ import annotations

import json
import tempfile
from typing import IO, Annotated, Any

import orjson
from fastapi import Header, Query, Request, status
from fastapi.responses import Response
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from service.domain import access
from service.domain.access import Principal
from service.domain.errors import Issue, ValidationFailed
from service.domain.lifecycle import Milestone
from service.domain.template import TemplateRead
from service.http.deps import (
    CurrentPrincipal,
    DatabaseDep,
    GalisRefPath,
    Page,
    ReadSession,
    SettingsDep,
    SubmissionIdPath,
    Today,
)
from service.http.problems import HttpProblem, problem_responses
from service.http.routing import api_router, caller_rule
from service.http.schemas import Page as PageOut
from service.http.uploads import read_upload
from service.kit.db import Database
from service.kit.settings import Settings
from service.submissions import use_cases
from service.submissions.schemas import SUBMISSION_EXAMPLE, PushedSubmissionOut, SubmissionOut, SubmissionSummary
from service.submissions.template_file import TemplateFileRefused, read_declaration_file

router = api_router(tags=["remontees"])

PUSH_DESCRIPTION = """\
Transmet, pour une demande GALIS et un jalon (`va` ou `fin_projet`), les **valeurs absolues**
de chaque établissement (une ligne par FINESS géographique, colonnes C à L du modèle CNSA).
Le service contrôle chaque identifiant et chaque règle, calcule les cinq taux face à leurs
cibles et conserve la déclaration comme une nouvelle **version** immuable (1, 2, 3 … par
demande et jalon).

* Éditeur mandaté pour la référence, porteur (son SIRET) ou administrateur.
* Toutes les erreurs sont rendues ensemble (422), chacune avec `row` (1 = première ligne de
  `rows`), `column` (lettre du modèle), `field`, `code` et un message en français ; rien n'est
  enregistré. Les alertes (`warnings`) n'empêchent pas l'enregistrement.
* La déclaration couvre tous les établissements de la demande (`finess_missing`) et eux seuls
  (`finess_not_in_request`).
* Les nombres sont des entiers JSON (pas de chaînes), les dates `AAAA-MM-JJ`, les FINESS des
  chaînes (zéros initiaux).
* **Ou** le modèle Excel de la CNSA, en `multipart/form-data` (`milestone`, `file`) : même
  contrôle, même versionnement. Chaque erreur est adressée par cellule (`C7 : …`, `row` = ligne
  de la feuille) : onglet « Liste des mesures d'usage » absent, intitulés de colonnes modifiés
  ou déplacés, cellules fusionnées, référence GALIS absente du nom du fichier, colonnes A et B
  différentes de la demande, SIRET, GALIS ou FINESS saisis comme des nombres (zéro initial
  perdu), dates ni Excel ni `JJ/MM/AAAA`. Les lignes vides sont ignorées, une formule est lue
  par sa valeur. Un fichier qui n'est pas un .xlsx (CSV, .xls, .ods, PDF renommé) est refusé
  (415 `template_format_*`) ; 413 `template_too_large`, `template_uncompressed_too_large`.
* `dry_run=true` : tout est contrôlé, rien n'est enregistré (200).
* `Idempotency-Key` : rejouer la même clé avec le même corps rend la version déjà créée (200) ;
  la même clé avec un autre corps est refusée (422 `idempotency_key_reused`). Conseillé pour
  les envois automatiques qui peuvent être répétés après une coupure réseau.
* 409 `milestone_not_open` avant la validation du jalon, 409 `request_closed` après le
  paiement du solde.
"""

_PUSH_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/SubmissionCreate"},
            "examples": {"va": {"summary": "Un établissement, jalon VA", "value": SUBMISSION_EXAMPLE}},
        }, "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["milestone", "file"],
                "properties": {
                    "milestone": {"type": "string", "enum": ["va", "fin_projet"], "examples": ["va"]},
                    "file": {"type": "string", "format": "binary", "examples": ["mesures-usage-12345678.xlsx"],
                             "description": "Le modèle CNSA « Liste des mesures d'usage » (.xlsx) ; son nom "
                                            "contient la référence GALIS."},
                    "software_name": {"type": "string", "maxLength": 100, "examples": ["DUI Facile"],
                                      "description": "Le logiciel qui a produit les chiffres."},
                    "software_version": {"type": "string", "maxLength": 100, "examples": ["4.2.1"]},
                    "extracted_at": {"type": "string", "format": "date-time", "examples": ["2024-04-02T08:00:00Z"],
                                     "description": "Quand les chiffres ont été extraits."},
                    "acknowledgements": {"type": "string", "examples": ["[]"], "description": (
                        "Liste JSON des justifications d'alertes {code, finess, justification} (fin de projet).")},
                },
            },
        }},
    }
}

_JSON_TYPES = ("application/json", "application/problem+json")
_PROVENANCE_FIELDS = ("software_name", "software_version", "extracted_at")


def _idempotency_key(raw: str | None) -> str | None:
    if raw is None:
        return None
    if not 1 <= len(raw) <= 255 or not raw.isascii() or not raw.isprintable():
        raise ValidationFailed([Issue(code="idempotency_key_invalid", field="Idempotency-Key",
                                      message="La clé d'idempotence compte 1 à 255 caractères ASCII imprimables.")])
    return raw


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


async def _read_json(request: Request, limit: int) -> object:
    media_type = _media_type(request)
    if media_type not in _JSON_TYPES:
        raise HttpProblem(415, "unsupported_media_type", "Type de contenu non pris en charge",
                          "Corps attendu en application/json, ou en multipart/form-data avec le modèle "
                          f"Excel de la CNSA (reçu « {media_type or 'aucun'} »).")
    declared = request.headers.get("content-length")
    too_large = HttpProblem(413, "payload_too_large", "Requête trop volumineuse",
                            f"Le corps dépasse la taille admise ({limit} octets).")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    try:
        return json.loads(b"".join(chunks))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HttpProblem(400, "malformed_json", "Requête mal formée",
                          f"Le corps de la requête n'est pas un JSON valide ({exc}).") from None


async def _read_template(request: Request, database: Database, principal: Principal, galis_ref: str,
                         settings: Settings, cache: use_cases.PushCache) -> tuple[dict[str, Any], TemplateRead]:
    """Read an uploaded CNSA template into the JSON body's shape, with the sheet's own issues.

    The caller's right to push to this request is checked before the body is read.
    """
    def facts() -> use_cases.RequestFacts:
        with Session(database.engine) as session:
            return use_cases.push_facts(session, principal, galis_ref, cache)

    req = await run_in_threadpool(facts)
    too_large = HttpProblem(413, "template_too_large", "Fichier trop volumineux",
                            f"Le classeur dépasse la taille admise ({settings.max_template_bytes} octets).")
    staging: IO[bytes] = await run_in_threadpool(
        lambda: tempfile.NamedTemporaryFile(prefix="template-", suffix=".xlsx", delete=False))
    upload = await read_upload(request, file_field="file", staging=staging,
                               max_file_bytes=settings.max_template_bytes, too_large=too_large)
    try:
        unknown = sorted(set(upload.fields) - {"milestone", "acknowledgements", *_PROVENANCE_FIELDS})
        missing = [] if upload.file is not None else ["file"]
        if unknown or missing:
            raise ValidationFailed(
                [Issue(code="unknown_field", field=name,
                       message=f"Champ inconnu « {name} » : les champs admis sont milestone, software_name, "
                               "software_version, extracted_at, acknowledgements et file.")
                 for name in unknown]
                + [Issue(code="field_required", field="file",
                         message="Le champ « file » (le classeur .xlsx) est obligatoire.") for _ in missing])
        staged = upload.file
        assert staged is not None
        try:
            sheet = await run_in_threadpool(
                read_declaration_file, staged.path, staged.head, filename=staged.filename,
                galis_ref=req.galis_ref, siret=req.siret, max_rows=settings.max_rows,
                max_uncompressed=settings.max_template_uncompressed_bytes)
        except TemplateFileRefused as exc:
            if exc.status == 422:
                raise ValidationFailed([Issue(code=exc.code, field="file", message=exc.message)], exc.message,
                                       code=exc.code) from None
            raise HttpProblem(exc.status, exc.code, "Fichier refusé", exc.message) from None
    finally:
        upload.discard()
    if sheet.structural:
        raise ValidationFailed(sheet.issues)
    payload: dict[str, Any] = {"milestone": upload.fields.get("milestone"), "rows": sheet.rows}
    if upload.fields.get("software_name") or upload.fields.get("software_version"):
        payload["software"] = {"name": upload.fields.get("software_name", ""),
                               "version": upload.fields.get("software_version", "")}
    if upload.fields.get("extracted_at"):
        payload["extracted_at"] = upload.fields["extracted_at"]
    if "acknowledgements" in upload.fields:  # the justifications of the warnings, as a JSON list
        try:
            payload["acknowledgements"] = json.loads(upload.fields["acknowledgements"])
        except ValueError:
            raise ValidationFailed([Issue(code="acknowledgements_invalid", field="acknowledgements", message=(
                "Le champ « acknowledgements » doit être une liste JSON de {code, finess, justification}."))]) from None
    return payload, sheet


@router.post(
    "/v1/funding-requests/{galis_ref}/submissions",
    status_code=status.HTTP_201_CREATED,
    response_model=PushedSubmissionOut,
    summary="Transmettre les données d'usage d'un jalon",
    description=PUSH_DESCRIPTION,
    operation_id="push_submission",
    dependencies=[caller_rule(access.require_may_submit)],
    responses={200: {"description": "Essai (`dry_run`) ou rejeu d'une `Idempotency-Key`.",
                     "model": PushedSubmissionOut},
               **problem_responses(400, 401, 403, 404, 409, 413, 415, 422)},
    openapi_extra=_PUSH_BODY,
)
async def push_submission(
    galis_ref: GalisRefPath,
    request: Request,
    principal: CurrentPrincipal,
    database: DatabaseDep,
    settings: SettingsDep,
    today: Today,
    dry_run: Annotated[bool, Query(description="Contrôler sans enregistrer.")] = False,
    idempotency_key: Annotated[str | None, Header(
        alias="Idempotency-Key", description="Clé choisie par le client : 1 à 255 caractères ASCII imprimables.",
        json_schema_extra={"pattern": "^[\\x20-\\x7e]{1,255}$", "minLength": 1, "maxLength": 255})]
    = None,
) -> Any:
    key = _idempotency_key(idempotency_key)
    cache: use_cases.PushCache = request.app.state.push_cache
    sheet: TemplateRead | None = None
    payload: object
    if _media_type(request) == "multipart/form-data":
        payload, sheet = await _read_template(request, database, principal, galis_ref, settings, cache)
        source = "xlsx"
    else:
        payload, source = await _read_json(request, settings.max_json_body_bytes), "json"
    options = use_cases.PushOptions(today=today, max_rows=settings.max_rows, dry_run=dry_run,
                                    idempotency_key=key, source=source)

    def push(session: Session) -> use_cases.PushResult:
        return use_cases.record_submission(session, principal, galis_ref, payload, options, cache, sheet=sheet)

    try:
        result = await database.writer.run(push)
    except IntegrityError:
        if options.idempotency_key is None:
            raise
        # Another process stored the same key between our replay check and our insert; it has
        # committed by now, so a second run finds it and replays (or refuses a different body).
        result = await database.writer.run(push)
    cache.remember(result)  # committed by now
    # The body is built by the use case in the documented shape (a test checks it against
    # SubmissionOut); it is sent as is rather than validated a second time.
    return Response(orjson.dumps(result.body), media_type="application/json",
                    status_code=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK)


@router.get(
    "/v1/funding-requests/{galis_ref}/submissions",
    response_model=PageOut[SubmissionSummary],
    summary="Lister les versions d'une demande",
    description="Les versions transmises, de la plus récente à la plus ancienne, éventuellement pour un seul jalon.",
    operation_id="list_submissions",
    responses=problem_responses(401, 404, 422),
)
def list_submissions(
    galis_ref: GalisRefPath,
    principal: CurrentPrincipal, session: ReadSession, page: Page,
    milestone: Annotated[Milestone | None, Query(description="`va` ou `fin_projet`.")] = None,
) -> Any:
    return use_cases.list_versions(session, principal, galis_ref, page, milestone=milestone)


@router.get(
    "/v1/submissions/{submission_id}",
    response_model=SubmissionOut,
    summary="Consulter une version",
    description="Une version telle qu'elle a été reçue, avec ses taux recalculés sur les cibles alors appliquées.",
    operation_id="get_submission",
    responses=problem_responses(401, 404),
)
def get_submission(submission_id: SubmissionIdPath,
                   principal: CurrentPrincipal, session: ReadSession) -> Any:
    return use_cases.get_submission(session, principal, submission_id)
