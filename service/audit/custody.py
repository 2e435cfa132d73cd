"""Chain of custody: every read of a proof's bytes, a report, an export or a bundle is an audit
event (who, what, when, by which route), recorded and committed before the first byte is sent,
so it is a leaf of the log like any change.

A bundle's read records one event for the bundle and one per proof it carries (the custody of a
proof lists every route its bytes left by). ``HEAD`` sends no bytes and records nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from fastapi import Request
from sqlmodel import Session, col

from service import actors
from service.audit import trail as audit
from service.audit.use_cases import event_actor, events_page, named_actors
from service.domain.access import Principal
from service.http.routing import HEAD_ONLY
from service.kit.db import Database
from service.kit.pagination import PageRequest
from service.models import AuditEvent, FundingRequest, Submission, iso_z

#: Actions of the reads; ``PROOF_READ`` is what a proof's custody lists.
PROOF_READ = "proof_read"
REPORT_READ = "report_read"
EXPORT_READ = "export_read"
BUNDLE_READ = "evidence_bundle_read"


@dataclass(frozen=True)
class Read:
    """One object read: what ``audit.record`` needs, the route added by ``record_reads``."""

    action: str
    object_type: str
    object_id: str
    request_id: int | None = None
    galis_ref: str | None = None
    details: tuple[tuple[str, Any], ...] = ()


def version_read(session: Session, action: str, submission_id: str, **details: Any) -> Read:
    """The read of something made of one version (its report, its export), to record."""
    row = session.execute(sa.select(Submission.request_id, FundingRequest.galis_ref)  # type: ignore[call-overload]
                          .join(FundingRequest, FundingRequest.id == Submission.request_id)
                          .where(Submission.id == submission_id)).one()
    return Read(action, "submission", submission_id, request_id=row.request_id, galis_ref=row.galis_ref,
                details=tuple(details.items()))


def route_of(request: Request) -> dict[str, str]:
    """The route as declared (``/v1/proofs/{proof_id}/content``) and the path as called."""
    route = request.scope.get("route")
    return {"route": f"{request.method} {getattr(route, 'path', request.url.path)}", "path": request.url.path}


def record_reads(session: Session, principal: Principal, route: dict[str, str], reads: Sequence[Read]) -> None:
    for read in reads:
        audit.record(session, principal, read.action, read.object_type, read.object_id, request_id=read.request_id,
                     galis_ref=read.galis_ref, payload={**route, **dict(read.details)})


def sends_bytes(request: Request) -> bool:
    return not request.scope.get(HEAD_ONLY, False)


def record_read(database: Database, principal: Principal, request: Request, reads: Sequence[Read]) -> None:
    """Record ``reads`` and commit them before the bytes are sent (not for ``HEAD``)."""
    if sends_bytes(request):
        route = route_of(request)
        database.writer.run_sync(lambda session: record_reads(session, principal, route, reads))


def custody_of(session: Session, proof_id: str, page: PageRequest) -> dict[str, Any]:
    """Who read the proof's bytes, oldest first (the caller is known to see the proof)."""
    query = sa.select(AuditEvent).where(col(AuditEvent.object_type) == "proof", col(AuditEvent.object_id) == proof_id,
                                        col(AuditEvent.action) == PROOF_READ)
    return {"proof_id": proof_id, **events_page(session, query, page, read_view)}


def read_view(e: AuditEvent, named: actors.Resolve) -> dict[str, Any]:
    payload = e.payload or {}
    return {"seq": e.seq, "index": e.log_index, "read_at": iso_z(e.occurred_at), "reader": event_actor(e, named),
            "route": payload.get("route"), "path": payload.get("path"), "bundle": payload.get("bundle")}


def custody_by_proof(session: Session, proof_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Every read of each of ``proof_ids``, oldest first (for a bundle's ``proofs.json``)."""
    found: dict[str, list[dict[str, Any]]] = {p: [] for p in proof_ids}
    if proof_ids:
        events = session.execute(sa.select(AuditEvent).where(
            col(AuditEvent.object_type) == "proof", col(AuditEvent.object_id).in_(list(proof_ids)),
            col(AuditEvent.action) == PROOF_READ).order_by(col(AuditEvent.seq))).scalars().all()
        named = named_actors(session, events)
        for e in events:
            found[e.object_id].append(read_view(e, named))
    return found
