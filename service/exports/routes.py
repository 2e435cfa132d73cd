"""Exports in the CNSA template (xlsx, and CSV for the template's columns).

The per-version routes (``/v1/submissions/{id}.xlsx``) are declared before the router of
``/v1/submissions/{id}``, whose path parameter would otherwise take ``{id}.xlsx``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import IO, Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import Query, Request
from fastapi.responses import StreamingResponse

from service.audit import custody
from service.domain import access
from service.domain.lifecycle import Milestone
from service.exports import follow_up, use_cases
from service.exports.files import (
    CSV_MEDIA_TYPE,
    XLSX_MEDIA_TYPE,
    ExportRow,
    write_blank_template,
    write_csv,
    write_follow_up,
    write_xlsx,
)
from service.http.deps import (
    CurrentPrincipal,
    DatabaseDep,
    GalisRefPath,
    ReadSession,
    RegionQuery,
    SettingsDep,
    SubmissionIdPath,
    Today,
)
from service.http.limits import rate_class
from service.http.problems import problem_responses
from service.http.responses import attachment, file_chunks
from service.http.routing import api_router, caller_rule
from service.kit.rate_limits import EXPORTS

router = api_router(tags=["exports"], dependencies=[rate_class(EXPORTS)])  # the costly class

_FORMATS: dict[str, tuple[str, Callable[[Iterable[ExportRow], IO[bytes]], None]]] = {
    "xlsx": (XLSX_MEDIA_TYPE, write_xlsx),
    "csv": (CSV_MEDIA_TYPE, write_csv),
}


def _file(request: Request, name: str, extension: str, items: Any,
          write: Callable[[Any, IO[bytes]], None] | None = None) -> StreamingResponse:
    """Write the file (out of the request process: ``Offload``), then stream it."""
    media_type, default = _FORMATS[extension]
    handle, size = request.app.state.offload.write(write or default, items)
    return StreamingResponse(file_chunks(handle), media_type=media_type, headers={
        "Content-Length": str(size),
        "Content-Disposition": attachment(f"{name}.{extension}"),
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
    })


_FILE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Le fichier.", "content": {XLSX_MEDIA_TYPE: {}, "text/csv": {}}},
}

_VERSION_DESCRIPTION = """\
La version dans le modèle de la CNSA, feuille « Liste des mesures d'usage », colonnes A à L
(A à C au format texte, K et L en dates) : ce fichier se renvoie tel quel
(`POST /v1/funding-requests/{galis_ref}/submissions` en multipart) et redonne les mêmes lignes.
Une seconde feuille porte les taux calculés et l'atteinte des cibles. Même portée que la
lecture de la version.
"""


def _version_route(extension: str) -> None:
    @router.get(
        f"/v1/submissions/{{submission_id}}.{extension}",
        summary=f"Exporter une version ({extension.upper()})",
        description=_VERSION_DESCRIPTION if extension == "xlsx" else
        "Les colonnes A à L du modèle de la CNSA pour cette version, en CSV (séparateur `;`, UTF-8 avec BOM, "
        "dates JJ/MM/AAAA), comme l'attendent les tableurs en français.",
        operation_id=f"export_submission_{extension}",
        response_class=StreamingResponse,
        responses={**_FILE_RESPONSES, **problem_responses(401, 404)},
    )
    def export_version(submission_id: SubmissionIdPath, request: Request, principal: CurrentPrincipal,
                       session: ReadSession, database: DatabaseDep) -> Any:
        name, rows = use_cases.version_rows(session, principal, submission_id)
        response = _file(request, name, extension, rows)
        custody.record_read(database, principal, request, [
            custody.version_read(session, custody.EXPORT_READ, submission_id, format=extension)])
        return response


def _latest_route(extension: str) -> None:
    @router.get(
        f"/v1/exports/submissions.{extension}",
        summary=f"Exporter les dernières versions ({extension.upper()})",
        description="Pour un jalon, la dernière version de chaque demande visible par l'appelant (une ARS : "
                    "sa région ; la CNSA : tout le programme ; un porteur ou un éditeur : ses demandes), "
                    "éventuellement pour une seule région, dans le modèle de la CNSA"
                    + (" (seconde feuille : taux et atteinte des cibles)." if extension == "xlsx" else
                       " en CSV (`;`, UTF-8 avec BOM, dates JJ/MM/AAAA)."),
        operation_id=f"export_latest_submissions_{extension}",
        response_class=StreamingResponse,
        responses={**_FILE_RESPONSES, **problem_responses(401, 422)},
    )
    def export_latest(
        request: Request, principal: CurrentPrincipal, session: ReadSession, database: DatabaseDep, today: Today,
        milestone: Annotated[Milestone, Query(description="`va` ou `fin_projet`.")],
        region: RegionQuery = None,
    ) -> Any:
        name, rows = use_cases.latest_rows(session, principal, milestone=milestone, region_code=region, today=today)
        response = _file(request, name, extension, rows)
        custody.record_read(database, principal, request, [custody.Read(
            custody.EXPORT_READ, "export", f"{name}.{extension}", details=(
                ("milestone", milestone.value), ("region", region), ("format", extension)))])
        return response


for _extension in _FORMATS:
    _version_route(_extension)
    _latest_route(_extension)


@router.get(
    "/v1/funding-requests/{galis_ref}/template.xlsx",
    summary="Modèle de la CNSA pré-rempli pour une demande",
    description="Le modèle « Liste des mesures d'usage » prêt à remplir : une ligne par établissement de la "
                "demande, colonnes A à D remplies (GALIS, SIRET, FINESS au format texte, raison sociale), E à L "
                "vides et contrôlées par le tableur (entiers positifs, dates), puis une feuille « Notice ». Rempli, "
                "il se dépose tel quel (`POST /v1/funding-requests/{galis_ref}/submissions` en multipart). Pour "
                "quiconque voit la demande.",
    operation_id="funding_request_template_xlsx",
    response_class=StreamingResponse,
    responses={200: {"description": "Le fichier.", "content": {XLSX_MEDIA_TYPE: {}}}, **problem_responses(401, 404)},
)
def request_template(galis_ref: GalisRefPath, request: Request, principal: CurrentPrincipal,
                     session: ReadSession) -> Any:
    name, blank = use_cases.blank_template(session, principal, galis_ref)
    return _file(request, name, "xlsx", blank, write_blank_template)


@router.get(
    "/v1/exports/follow-up.xlsx",
    summary="Tableau de suivi régional (xlsx)",
    description="Une ligne par FINESS : FINESS ET et EJ, département, catégorie, raison sociale, demande GALIS, "
                "porteur, éditeur, état des jalons (VA, fin de projet et son échéance, solde), dernière version et "
                "sa date, les cinq taux et leur atteinte, décision de l'ARS, preuves complètes (fin de projet), "
                "demandes de preuve ouvertes, score de risque. Une ARS : sa région ; la CNSA : tout le programme "
                "ou une région. Filtres `category` (3 chiffres) et `department`.",
    operation_id="export_follow_up_xlsx",
    response_class=StreamingResponse,
    responses={200: {"description": "Le fichier.", "content": {XLSX_MEDIA_TYPE: {}}},
               **problem_responses(401, 403, 422)},
    dependencies=[caller_rule(access.require_may_see_statistics)],
)
def export_follow_up(
    request: Request, principal: CurrentPrincipal, session: ReadSession, database: DatabaseDep,
    settings: SettingsDep, region: RegionQuery = None,
    category: Annotated[str | None, Query(pattern=r"^[0-9]{3}$", description="Catégorie FINESS.")] = None,
    department: Annotated[str | None, Query(pattern=r"^(0[1-9]|[1-8][0-9]|9[0-5]|2A|2B|97[1-6])$",
                                            description="Département, par exemple `33`, `2A` ou `971`.")] = None,
) -> Any:
    name, lines = follow_up.follow_up(session, principal, region_code=region, category=category,
                                      department=department, zone=ZoneInfo(settings.timezone))
    response = _file(request, name, "xlsx", lines, write_follow_up)
    custody.record_read(database, principal, request, [custody.Read(
        custody.EXPORT_READ, "export", f"{name}.xlsx", details=(("region", region), ("category", category),
                                                                 ("department", department)))])
    return response
