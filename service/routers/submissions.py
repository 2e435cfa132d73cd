"""Declarations of usage data (remontées) and their versions."""

from __future__ import annotations

import json
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Header, Path, Query, Request, status
from fastapi.responses import Response
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from service import submissions as use_cases
from service.deps import CurrentPrincipal, DatabaseDep, Page, ReadSession, SettingsDep, Today
from service.domain.errors import Issue, ValidationFailed
from service.domain.lifecycle import Milestone
from service.problems import HttpProblem, problem_responses
from service.schemas import SUBMISSION_EXAMPLE, SubmissionOut, SubmissionSummary
from service.schemas import Page as PageOut

router = APIRouter(tags=["remontées"])

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
        }},
    }
}

_JSON_TYPES = ("application/json", "application/problem+json")


def _idempotency_key(raw: str | None) -> str | None:
    if raw is None:
        return None
    if not 1 <= len(raw) <= 255 or not raw.isascii() or not raw.isprintable():
        raise ValidationFailed([Issue(code="idempotency_key_invalid", field="Idempotency-Key",
                                      message="La clé d'idempotence compte 1 à 255 caractères ASCII imprimables.")])
    return raw


async def _read_json(request: Request, limit: int) -> object:
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in _JSON_TYPES:
        raise HttpProblem(415, "unsupported_media_type", "Type de contenu non pris en charge",
                          f"Corps attendu en application/json (reçu « {media_type or 'aucun'} »).")
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


@router.post(
    "/v1/funding-requests/{galis_ref}/submissions",
    status_code=status.HTTP_201_CREATED,
    response_model=SubmissionOut,
    summary="Transmettre les données d'usage d'un jalon",
    description=PUSH_DESCRIPTION,
    operation_id="push_submission",
    responses={200: {"description": "Essai (`dry_run`) ou rejeu d'une `Idempotency-Key`.", "model": SubmissionOut},
               **problem_responses(400, 401, 403, 404, 409, 413, 415, 422)},
    openapi_extra=_PUSH_BODY,
)
async def push_submission(
    galis_ref: Annotated[str, Path(description="Référence de la demande GALIS.", examples=["12345678"])],
    request: Request,
    principal: CurrentPrincipal,
    database: DatabaseDep,
    settings: SettingsDep,
    today: Today,
    dry_run: Annotated[bool, Query(description="Contrôler sans enregistrer.")] = False,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key",
                                                  description="Clé choisie par le client (1 à 255 caractères).")]
    = None,
) -> Any:
    payload = await _read_json(request, settings.max_json_body_bytes)
    options = use_cases.PushOptions(today=today, max_rows=settings.max_rows, dry_run=dry_run,
                                    idempotency_key=_idempotency_key(idempotency_key))
    cache: use_cases.PushCache = request.app.state.push_cache

    def push(session: Session) -> use_cases.PushResult:
        return use_cases.record_submission(session, principal, galis_ref, payload, options, cache)

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
    galis_ref: Annotated[str, Path(description="Référence de la demande GALIS.")],
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
def get_submission(submission_id: Annotated[str, Path(description="Identifiant de la version.")],
                   principal: CurrentPrincipal, session: ReadSession) -> Any:
    return use_cases.get_submission(session, principal, submission_id)
