"""Signed PDF summaries of versions, and their verification."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from service.http.deps import CurrentPrincipal, DatabaseDep, ReadSession, SettingsDep, SubmissionIdPath
from service.http.limits import rate_class
from service.http.problems import problem_responses
from service.http.routing import api_router
from service.http.uploads import single_file
from service.kit.rate_limits import EXPORTS
from service.reports import serving, use_cases
from service.reports.schemas import ReportVerification
from service.reports.signing import ReportSigner

router = api_router(tags=["syntheses-signees"], dependencies=[rate_class(EXPORTS)])  # the costly class
MAX_REPORT_BYTES = 50_000_000


@router.get(
    "/v1/submissions/{submission_id}/report.pdf",
    summary="Synthèse PDF signée d'une version",
    description="La version en PDF : en-tête (demande, porteur, région, jalon, version, réception, émetteur, "
                "version remplacée), une ligne par établissement (colonnes E à J, période, cinq taux face à leur "
                "cible : atteinte, non atteinte, non calculable), totaux de la grappe, cibles appliquées, alertes, "
                "preuves avec leur SHA-256, bloc de signature du porteur ; sur chaque page : page x/y, la version "
                "et l'empreinte de ses données. Signé (PAdES) par le service : vérifiable avec tout lecteur PDF ou "
                "`POST /v1/reports/verify`. Même portée que la lecture de la version.",
    operation_id="get_submission_report",
    response_class=Response,
    responses={200: {"description": "Le PDF signé.",
                     "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}},
               **problem_responses(401, 404)},
)
def get_report(submission_id: SubmissionIdPath, request: Request, principal: CurrentPrincipal,
               session: ReadSession, settings: SettingsDep, database: DatabaseDep) -> Any:
    return serving.report_response(submission_id, request, principal, session, settings, database)


_VERIFY_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["file"],
    "properties": {"file": {"type": "string", "format": "binary", "description": "Le PDF à vérifier."}},
}}}}}


@router.post(
    "/v1/reports/verify",
    response_model=ReportVerification,
    summary="Vérifier une synthèse signée",
    description="Dit si la signature du service est présente, intacte (pas un octet modifié), valide, émise par "
                "le certificat du service et couvre tout le fichier ; quelle version elle certifie et, si "
                "l'appelant peut voir cette version, si c'est toujours la dernière de son jalon et si ses données "
                "sont inchangées. Corps `multipart/form-data`, champ `file`.",
    operation_id="verify_report",
    responses=problem_responses(400, 401, 413, 415, 422),
    openapi_extra=_VERIFY_BODY,
)
async def verify_report(request: Request, principal: CurrentPrincipal, database: DatabaseDep,
                        settings: SettingsDep) -> Any:
    async with single_file(request, suffix=".pdf", max_bytes=MAX_REPORT_BYTES, too_large_code="report_too_large",
                           what="le PDF à vérifier") as staged:
        content = await run_in_threadpool(staged.path.read_bytes)
    signer: ReportSigner = request.app.state.report_signer
    check = await run_in_threadpool(signer.verify, content)

    def view() -> dict[str, Any]:
        with Session(database.engine) as session:
            return use_cases.verification_view(session, principal, check, timezone=settings.timezone)

    return await run_in_threadpool(view)
