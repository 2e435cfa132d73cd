"""What each caller must do next: one item per request × milestone that is open or has a version,
in the caller's scope, most urgent first.

The next action, in this order: ``answer_proof_request`` (the CNSA asked for a proof, 48 hours),
``push`` (the milestone is open with no version), ``resubmit`` (the ARS rejected the latest
version or asked for changes), ``upload_proofs`` (fin de projet: establishments without a proof
of their figures), ``await_review`` (the ARS has not decided), ``none`` (accepted, or the balance
paid).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from service.control.use_cases import proven_keys
from service.domain.access import Principal
from service.domain.lifecycle import Milestone
from service.domain.proofs import missing_proofs
from service.funding_requests.use_cases import LAST_VERSION, declared_rows, lifecycle_state
from service.http.schemas import Page
from service.kit.pagination import PageRequest, list_page
from service.models import (
    PROOF_REQUEST_TABLE,
    REVIEW_TABLE,
    SUBMISSION_TABLE,
    FundingRequest,
    iso_z,
)
from service.obligations.schemas import Obligation
from service.scope import scoped_requests_query

_SUB = SUBMISSION_TABLE
_REVIEW = REVIEW_TABLE
_PR = PROOF_REQUEST_TABLE
ACTIONS = ("answer_proof_request", "push", "resubmit", "upload_proofs", "await_review", "none")


def _next_action(*, closed: bool, open_requests: list[dict[str, Any]], version: int, decision: str | None,
                 proofs_missing: list[str]) -> str:
    if closed:
        return "none"
    if open_requests:
        return "answer_proof_request"
    if not version:
        return "push"
    if decision in ("rejected", "changes_requested"):
        return "resubmit"
    if proofs_missing:
        return "upload_proofs"
    return "await_review" if decision is None else "none"


def obligations(session: Session, principal: Principal, page: PageRequest, *, today: date,
                now: datetime) -> Page[Obligation]:
    requests = list(session.exec(scoped_requests_query(principal).order_by(FundingRequest.galis_ref)))
    by_id = {r.id: r for r in requests}
    conn = session.connection()
    pending: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
    if by_id:
        for pr in conn.execute(sa.select(_PR).where(_PR.c.request_id.in_(list(by_id)), _PR.c.answered_at.is_(None))
                               .order_by(_PR.c.due_at)):
            pending[(pr.request_id, pr.milestone)].append({"id": pr.id, "finess": pr.finess,
                                                          "due_at": iso_z(pr.due_at), "overdue": pr.due_at < now})
    items = []
    for req in requests:
        state = lifecycle_state(req)
        for milestone in Milestone:
            version = int(getattr(req, LAST_VERSION[milestone].name))
            opened = state.opened_on(milestone) is not None
            if not opened and not version:
                continue
            latest = review = None
            proofs_missing: list[str] = []
            if version:
                latest = conn.execute(sa.select(_SUB.c.id, _SUB.c.received_at, _SUB.c.targets_met).where(
                    _SUB.c.request_id == req.id, _SUB.c.milestone == milestone.value,
                    _SUB.c.version == version)).one()
                review = conn.execute(sa.select(_REVIEW.c.decision, _REVIEW.c.decided_at, _REVIEW.c.comment)
                                      .where(_REVIEW.c.submission_id == latest.id)).one_or_none()
                if milestone is Milestone.FIN_PROJET:
                    proofs_missing = missing_proofs(declared_rows(session, latest.id).values(),
                                                    proven_keys(conn, req.id, milestone.value))
            due = state.fin_projet_due_on if milestone is Milestone.FIN_PROJET else None
            asked = pending.get((req.id, milestone.value), [])
            action = _next_action(closed=state.is_closed, open_requests=asked, version=version,
                                  decision=review.decision if review else None, proofs_missing=proofs_missing)
            items.append({
                "galis_ref": req.galis_ref, "milestone": milestone.value, "open": opened and not state.is_closed,
                "due_on": due.isoformat() if due else None, "days_left": (due - today).days if due else None,
                "latest_version": version or None, "latest_received_at": iso_z(latest.received_at) if latest else None,
                "review": {"decision": review.decision, "decided_at": iso_z(review.decided_at),
                           "comment": review.comment} if review else None,
                "targets_met": latest.targets_met if latest else None, "proofs_missing": proofs_missing,
                "open_proof_requests": asked, "next_action": action,
            })
    items.sort(key=_urgency)
    shown, next_cursor = list_page(items, page)
    return Page[Obligation](items=[Obligation.model_validate(item) for item in shown], next_cursor=next_cursor)


def _urgency(item: dict[str, Any]) -> tuple[Any, ...]:
    """Proof requests first (soonest due), then by action, then the nearest deadline."""
    first_due = item["open_proof_requests"][0]["due_at"] if item["open_proof_requests"] else ""
    days = item["days_left"] if item["days_left"] is not None else 10**6
    return (ACTIONS.index(item["next_action"]), first_due, days, item["galis_ref"], item["milestone"])
