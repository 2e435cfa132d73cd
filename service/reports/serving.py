"""A version's signed summary served as a PDF answer: shared by the API's route and the console."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response
from sqlmodel import Session

from service.audit import custody
from service.domain.access import Principal
from service.http.responses import attachment
from service.kit.db import Database
from service.kit.settings import Settings
from service.reports import use_cases


def report_response(submission_id: str, request: Request, principal: Principal, session: Session,
                    settings: Settings, database: Database) -> Response:
    """The signed PDF of version ``submission_id``, its read recorded before it is sent (not for HEAD)."""
    model = use_cases.build_model(session, principal, submission_id, timezone=settings.timezone)
    pdf, etag = use_cases.cached_report(model, request.app.state.report_signer, request.app.state.report_cache,
                                         request.app.state.offload)
    custody.record_read(database, principal, request, [
        custody.version_read(session, custody.REPORT_READ, submission_id, version=model.version)])
    return Response(pdf, media_type="application/pdf", headers={
        "Content-Disposition": attachment(f"synthese-{model.galis_ref}-{model.version}.pdf").replace(
            "attachment", "inline", 1),
        "ETag": f'"{etag}"', "Cache-Control": "private, no-cache", "X-Content-Type-Options": "nosniff"})
