"""Evidence bundles served as streamed ZIP answers: shared by the API's routes and the console."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import StreamingResponse

from service.audit import custody
from service.domain.access import Principal
from service.evidence import bundles
from service.evidence.bundles import Bundle, ProofUnavailable, Sources
from service.http.responses import attachment
from service.kit.db import Database
from service.kit.settings import Settings
from service.proofs.serving import unavailable


def _sources(request: Request, settings: Settings) -> Sources:
    return Sources(store=request.app.state.proof_store, signer=request.app.state.report_signer,
                   report_cache=request.app.state.report_cache, timezone=settings.timezone,
                   offload=request.app.state.offload)


def _zip(build: Any) -> StreamingResponse:
    try:
        bundle: Bundle = build()
    except ProofUnavailable as exc:
        raise unavailable(exc.proof_id, exc.reason) from None
    return StreamingResponse(bundle.chunks(), media_type="application/zip", headers={
        "Content-Disposition": attachment(bundle.filename),
        "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff",
    })


def version_evidence(submission_id: str, request: Request, principal: Principal, database: Database,
                     settings: Settings) -> StreamingResponse:
    """The evidence bundle of a version, its reads recorded before the first byte (not for HEAD)."""
    return _zip(lambda: bundles.version_bundle(database, principal, submission_id, _sources(request, settings),
                                               route=custody.route_of(request), record=custody.sends_bytes(request)))


def case_evidence(case_id: str, request: Request, principal: Principal, database: Database,
                  settings: Settings) -> StreamingResponse:
    """The evidence bundle of a control case (the version's, plus ``data/case.json``)."""
    return _zip(lambda: bundles.case_bundle(database, principal, case_id, _sources(request, settings),
                                            route=custody.route_of(request), record=custody.sends_bytes(request)))
