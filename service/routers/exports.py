"""Exports in the CNSA template (xlsx, and CSV for the template's columns).

The per-version routes (``/v1/submissions/{id}.xlsx``) are declared before the router of
``/v1/submissions/{id}``, whose path parameter would otherwise take ``{id}.xlsx``.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable
from typing import IO, Annotated, Any

from fastapi import Query, Request
from fastapi.responses import StreamingResponse

from service import exports as use_cases
from service.deps import CurrentPrincipal, DatabaseDep, ReadSession, RegionQuery, SubmissionIdPath, Today
from service.domain.lifecycle import Milestone
from service.evidence import custody
from service.problems import problem_responses
from service.responses import attachment, file_chunks
from service.routing import api_router
from service.xlsx import CSV_MEDIA_TYPE, XLSX_MEDIA_TYPE, ExportRow, write_csv, write_xlsx

router = api_router(tags=["exports"])

_SPOOL_BYTES = 8 << 20
_FORMATS: dict[str, tuple[str, Callable[[Iterable[ExportRow], IO[bytes]], None]]] = {
    "xlsx": (XLSX_MEDIA_TYPE, write_xlsx),
    "csv": (CSV_MEDIA_TYPE, write_csv),
}


def _file(name: str, extension: str, rows: Iterable[ExportRow]) -> StreamingResponse:
    """Write the file while the read session is open, then stream it."""
    media_type, write = _FORMATS[extension]
    handle = tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES)
    try:
        write(rows, handle)
        size = handle.tell()
        handle.seek(0)
    except BaseException:
        handle.close()
        raise
    return StreamingResponse(file_chunks(handle), media_type=media_type, headers={  # type: ignore[arg-type]
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
        response = _file(name, extension, rows)
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
        response = _file(name, extension, rows)
        custody.record_read(database, principal, request, [custody.Read(
            custody.EXPORT_READ, "export", f"{name}.{extension}", details=(
                ("milestone", milestone.value), ("region", region), ("format", extension)))])
        return response


for _extension in _FORMATS:
    _version_route(_extension)
    _latest_route(_extension)
