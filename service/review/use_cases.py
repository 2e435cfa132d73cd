"""ARS review of versions, the review queue, and where a request stands (lifecycle view)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, select

from service import actors
from service.audit import trail as audit
from service.domain import access
from service.domain.access import Principal, Role
from service.domain.lifecycle import Milestone
from service.domain.review import Decision, ReviewCommand, check_review
from service.funding_requests.use_cases import last_version, lifecycle_state
from service.http.schemas import Actor, Page, WarningJustification
from service.kit.mailing import Mailing
from service.kit.pagination import Key, Keyset, PageRequest
from service.models import ControlCase, FundingRequest, Review, Submission, iso_z, utcnow
from service.notifications import events as tell
from service.proofs.use_cases import proofs_of_version
from service.review.schemas import LifecycleOut, MilestoneStanding, ReviewOut, ReviewQueueItem
from service.scope import load_request, load_submission, scoped_requests_query
from service.webhooks import outbox


def review_view(review: Review, decided_by: dict[str, Any] | None) -> ReviewOut:
    return ReviewOut(
        id=review.id, submission_id=review.submission_id, decision=Decision(review.decision),
        comment=review.comment, decided_at=review.decided_at,
        decided_by=Actor.model_validate(decided_by) if decided_by else None,
    )


def reviews_of(session: Session, submission_id: str) -> list[ReviewOut]:
    reviews = session.exec(select(Review).where(Review.submission_id == submission_id)).all()
    named = actors.resolver(session.connection(), ((r.decided_by_key_id, r.decided_by_person_id) for r in reviews))
    return [review_view(r, named(r.decided_by_key_id, r.decided_by_person_id)) for r in reviews]


def record_review(session: Session, principal: Principal, submission_id: str,
                  command: ReviewCommand, *, mailing: Mailing) -> ReviewOut:
    """Record the ARS decision on a version (see ``service.domain.review.check_review``)."""
    sub, _ = load_submission(session, principal, submission_id)
    access.require_may_review(principal)
    req = load_request(session, principal, _ref_of(session, sub), for_update=True)  # serialises decisions
    lifecycle_state(req).require_not_closed()
    decision, comment = command.checked()
    already = session.exec(select(Review.decision).where(Review.submission_id == sub.id)).first()
    milestone = Milestone(sub.milestone)
    missing = proofs_of_version(session, sub, req.galis_ref)["proofs_missing"] \
        if milestone is Milestone.FIN_PROJET and decision is Decision.ACCEPTED else []
    check_review(decision, version=sub.version, latest_version=last_version(req, sub.milestone),
                 already=Decision(already) if already else None, milestone=milestone, proofs_missing=missing)
    review = Review(id=str(uuid.uuid4()), submission_id=sub.id, request_id=sub.request_id, milestone=sub.milestone,
                    decision=decision.value, comment=comment, decided_at=utcnow(),
                    decided_by_key_id=principal.key_id or None,
                    decided_by_person_id=principal.person_id)
    session.add(review)
    sub.changed_at = review.decided_at  # the auditors' feed brings it up again
    sub.awaiting_review = False
    session.flush()
    audit.record(session, principal, "review_recorded", "submission", sub.id, request_id=sub.request_id,
                 galis_ref=req.galis_ref, payload={"milestone": sub.milestone, "version": sub.version,
                                                   "decision": decision.value, "comment": comment})
    outbox.emit(session, "review.decided", request_id=sub.request_id, data={
        "submission_id": sub.id, "milestone": sub.milestone, "version": sub.version, "decision": decision.value})
    tell.review_decided(session, mailing, req, sub, decision=decision.value, comment=comment, by=principal.label)
    return review_view(review, actors.of_principal(principal))


def _ref_of(session: Session, sub: Submission) -> str:
    req = session.get(FundingRequest, sub.request_id)
    assert req is not None
    return req.galis_ref


def _deadline(req: FundingRequest, milestone: str, today: date) -> dict[str, Any]:
    """The fields of ``DeadlineOut`` for ``milestone`` (only the fin de projet has one)."""
    if milestone != Milestone.FIN_PROJET.value or req.fin_projet_due_on is None:
        return {"due_on": None, "days_left": None, "overdue": False}
    days = (req.fin_projet_due_on - today).days
    return {"due_on": req.fin_projet_due_on, "days_left": days, "overdue": days < 0}


#: The review queue: the versions awaiting a decision in reception order.
_OLDEST_FIRST = Keyset(Key("at", Submission.received_at, datetime), Key("id", Submission.id, str))


def review_queue(session: Session, principal: Principal, page: PageRequest, *,
                 today: date) -> Page[ReviewQueueItem]:
    """The latest version of each request and milestone of the caller's région not yet decided,
    oldest first."""
    if principal.role not in (Role.ARS_REVIEWER, Role.ADMIN):
        access.require_may_review(principal)
    # Read off the partial index of the versions awaiting a decision, in reception order.
    visible = scoped_requests_query(principal).with_only_columns(FundingRequest.id)
    query = (select(Submission, FundingRequest)
             .join(FundingRequest, FundingRequest.id == Submission.request_id)  # type: ignore[arg-type]
             .where(Submission.awaiting_review,  # the partial index's own predicate  # type: ignore[arg-type]
                    Submission.request_id.in_(visible.scalar_subquery()),  # type: ignore[attr-defined]
                    FundingRequest.closed_on.is_(None)))  # type: ignore[union-attr]
    rows, next_cursor = _OLDEST_FIRST.page(list(session.exec(_OLDEST_FIRST.select(query, page))), page,
                                           lambda row: (row[0].received_at, row[0].id))
    items = [ReviewQueueItem(
        id=sub.id, galis_ref=req.galis_ref, region_code=req.region_code, milestone=Milestone(sub.milestone),
        version=sub.version, received_at=sub.received_at, row_count=sub.row_count, warning_count=len(sub.warnings),
        targets_met=sub.targets_met, **_deadline(req, sub.milestone, today),
        justifications=[WarningJustification(finess=w["finess"], code=w["code"], justification=w["justification"])
                        for w in sub.warnings if w.get("justification")],
    ) for sub, req in rows]
    return Page[ReviewQueueItem](items=items, next_cursor=next_cursor)


def lifecycle(session: Session, principal: Principal, galis_ref: str, *, today: date) -> LifecycleOut:
    """Where a request stands, in one call: milestones, deadlines, latest version of each,
    its review decision and its control outcome."""
    req = load_request(session, principal, galis_ref)
    state = lifecycle_state(req)
    milestones = []
    for milestone, opened_on in ((Milestone.VA, req.va_opened_on), (Milestone.FIN_PROJET, req.fin_projet_opened_on)):
        deadline = _deadline(req, milestone.value, today)
        if milestone is Milestone.FIN_PROJET and req.closed_on is not None:
            deadline["overdue"] = False
        standing = MilestoneStanding(milestone=milestone, opened_on=opened_on, **deadline, latest_version=None,
                                     review=None, control=None)
        sub = session.exec(select(Submission).where(
            Submission.request_id == req.id, Submission.milestone == milestone.value,
            Submission.version == last_version(req, milestone))).first()
        if sub is not None:
            standing.latest_version = {"id": sub.id, "version": sub.version, "received_at": iso_z(sub.received_at),
                                       "targets_met": sub.targets_met, "warning_count": len(sub.warnings)}
            decided = reviews_of(session, sub.id)
            standing.review = decided[0] if decided else None
            case = session.exec(select(ControlCase).where(ControlCase.submission_id == sub.id)).first()
            if case is not None:
                standing.control = {"case_id": case.id, "status": case.status, "score": case.score,
                                    "outcome": case.outcome}
            if milestone is Milestone.FIN_PROJET:
                standing.proofs_missing = proofs_of_version(session, sub, req.galis_ref)["proofs_missing"]
        milestones.append(standing)
    return LifecycleOut(galis_ref=req.galis_ref, region_code=req.region_code, porteur_name=req.porteur_name,
                        status="closed" if state.closed_on else "open", closed_on=req.closed_on,
                        milestones=milestones)
