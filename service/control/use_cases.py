"""CNSA control: one case per stored version, scored by ``service.domain.risk``; claims, proof
requests due 48 hours later and answered by an upload, outcomes."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import Session, select

from service import actors
from service.audit import trail as audit
from service.control.schemas import ControlCaseOut, ProofRequestOut, RiskReasonOut
from service.domain import access, risk
from service.domain.access import Principal, Role
from service.domain.declaration import EvaluatedRow
from service.domain.errors import Conflict, NotFound
from service.domain.lifecycle import Milestone
from service.domain.proofs import DeclaredRow, missing_proofs
from service.domain.review import Outcome, OutcomeCommand, ProofRequestCommand
from service.funding_requests.use_cases import declared_rows, last_version, require_known_region
from service.http.schemas import Actor, Page
from service.kit.mailing import Mailing
from service.kit.pagination import Key, Keyset, PageRequest
from service.models import (
    CONTROL_CASE_TABLE,
    FINESS_SNAPSHOT_TABLE,
    PROOF_TABLE,
    REGISTRY_ESTABLISHMENT_TABLE,
    ControlCase,
    FundingRequest,
    Proof,
    ProofRequest,
    Submission,
    SubmissionRow,
    iso_z,
    utcnow,
)
from service.notifications import events as tell
from service.scope import load_submission, scoped_requests_query
from service.webhooks import outbox

PROOF_DELAY = timedelta(hours=48)
STATUSES = ("open", "claimed", "closed")
_CASE = CONTROL_CASE_TABLE
_PROOF = PROOF_TABLE
_ET = REGISTRY_ESTABLISHMENT_TABLE
_SNAPSHOT = FINESS_SNAPSHOT_TABLE
_INSERT_CASE = sa.insert(_CASE)
#: Built once, as the push path runs it: building a statement costs more than running it.
_CLOSURES = (sa.select(_ET.c.finess, _ET.c.closed_on, _SNAPSHOT.c.extracted_on.label("last_seen_on"))
             .join(_SNAPSHOT, _SNAPSHOT.c.id == _ET.c.last_seen_snapshot_id)
             .where(_ET.c.finess.in_(sa.bindparam("wanted", expanding=True)), _ET.c.closed_on.is_not(None)))
_PROVEN_KEYS = sa.select(_PROOF.c.evidence_key).where(_PROOF.c.request_id == sa.bindparam("request_id"),
                                                      _PROOF.c.milestone == sa.bindparam("milestone"))


def proven_keys(conn: Connection, request_id: int, milestone: str) -> set[str]:
    return set(conn.execute(_PROVEN_KEYS, {"request_id": request_id, "milestone": milestone}).scalars())


def closures_of(conn: Connection, finesses: Iterable[str]) -> dict[str, risk.Closure]:
    """The closed establishments among ``finesses``, as the FINESS registry knows them."""
    wanted = sorted(set(finesses))
    found: dict[str, risk.Closure] = {}
    for at in range(0, len(wanted), 1_000):
        found.update({r.finess: risk.Closure(last_seen_on=r.last_seen_on, closed_on=r.closed_on)
                      for r in conn.execute(_CLOSURES, {"wanted": wanted[at:at + 1_000]})})
    return found


def refresh_closure_reasons(session: Session, finesses: set[str]) -> None:
    """Closures changed for ``finesses`` (a new FINESS snapshot): bring the closure reason of every
    open case whose version declares one of them up to date."""
    if not finesses:
        return
    conn = session.connection()
    affected = sorted(set(conn.execute(sa.select(SubmissionRow.submission_id).where(  # type: ignore[call-overload]
        SubmissionRow.finess.in_(sorted(finesses)))).scalars()))  # type: ignore[attr-defined]
    for at in range(0, len(affected), 500):
        cases = session.exec(select(ControlCase).where(ControlCase.submission_id.in_(affected[at:at + 500]),  # type: ignore[attr-defined]
                                                       ControlCase.status != "closed"))
        for case in cases:
            stored = session.exec(select(SubmissionRow).where(SubmissionRow.submission_id == case.submission_id))
            rows = [risk.RowFacts(finess=r.finess, counts={}, indicators={}, period_end=r.period_end) for r in stored]
            reason = risk.closure_reason(rows, closures_of(conn, (r.finess for r in rows)))
            reasons = risk.replaced(case.reasons, "establishment_closed", reason)
            if reasons != case.reasons:
                case.reasons, case.score = reasons, risk.score_of(reasons)
                session.add(case)
    session.flush()


def open_case(conn: Connection, *, submission_id: str, request_id: int, region_code: str, milestone: Milestone,
              version: int, rows: Sequence[EvaluatedRow], received_on: date, due_on: date | None,
              previous: Any) -> dict[str, Any]:
    """Open the control case of a version being stored (same transaction); return its summary."""
    missing: list[str] = []
    if milestone is Milestone.FIN_PROJET:
        proven = proven_keys(conn, request_id, milestone.value)
        missing = missing_proofs((DeclaredRow(finess=e.row.finess, period_start=e.row.period_start,
                                              period_end=e.row.period_end, counts=e.counts) for e in rows), proven)
    reasons = risk.assess(risk.VersionFacts(
        milestone=milestone, received_on=received_on, due_on=due_on, previous=previous, proofs_missing=missing,
        closures=closures_of(conn, (e.row.finess for e in rows)),
        rows=[risk.RowFacts(finess=e.row.finess, counts=e.counts, indicators=e.indicators,
                            period_end=e.row.period_end) for e in rows]))
    case = {"id": str(uuid.uuid4()), "submission_id": submission_id, "request_id": request_id,
            "region_code": region_code, "milestone": milestone.value, "version": version,
            "score": risk.score_of(reasons), "reasons": [r.as_dict() for r in reasons], "status": "open",
            "opened_at": utcnow()}
    conn.execute(_INSERT_CASE, case)
    return {"id": case["id"], "score": case["score"], "reasons": [r.code for r in reasons]}


def after_proof(session: Session, principal: Principal, proof: Proof, *, galis_ref: str) -> list[str]:
    """A proof was stored: answer the open proof requests for its FINESS and milestone, and bring
    the proof reason of the open cases of the request up to date. Return the requests answered."""
    now = utcnow()
    answered = list(session.exec(select(ProofRequest).where(
        ProofRequest.request_id == proof.request_id, ProofRequest.milestone == proof.milestone,
        ProofRequest.finess == proof.finess, ProofRequest.answered_at.is_(None))))  # type: ignore[union-attr]
    for pr in answered:
        pr.answered_at, pr.proof_id = now, proof.id
        session.add(pr)
        audit.record(session, principal, "proof_request_answered", "proof_request", pr.id,
                     request_id=proof.request_id, galis_ref=galis_ref,
                     payload={"finess": pr.finess, "proof_id": proof.id, "sha256": proof.sha256,
                              "late": pr.due_at < now})
    if proof.milestone == Milestone.FIN_PROJET.value:
        conn = session.connection()
        proven = proven_keys(conn, proof.request_id, proof.milestone)
        cases = session.exec(select(ControlCase).where(
            ControlCase.request_id == proof.request_id, ControlCase.milestone == proof.milestone,
            ControlCase.status != "closed"))
        for case in cases:
            rows = declared_rows(session, case.submission_id)
            reasons = risk.with_proofs(case.reasons, Milestone.FIN_PROJET, missing_proofs(rows.values(), proven),
                                       len(rows))
            if reasons != case.reasons:
                case.reasons, case.score = reasons, risk.score_of(reasons)
                session.add(case)
    session.flush()
    return [pr.id for pr in answered]


def _case_not_found(case_id: str) -> NotFound:
    return NotFound(f"Dossier de contrôle {case_id} introuvable.", code="control_case_not_found")


def _load_case(session: Session, principal: Principal, case_id: str, *, for_update: bool = False) -> ControlCase:
    access.require_may_control(principal)
    query = select(ControlCase).where(ControlCase.id == case_id)
    if for_update:
        query = query.with_for_update()
    case = session.exec(query).first()
    if case is None:
        raise _case_not_found(case_id)
    return case


def proof_request_view(pr: ProofRequest, galis_ref: str, *, now: datetime) -> ProofRequestOut:
    due, answered = pr.due_at, pr.answered_at  # stored timestamps are read back UTC-aware
    return ProofRequestOut(
        id=pr.id, case_id=pr.case_id, galis_ref=galis_ref, milestone=Milestone(pr.milestone), finess=pr.finess,
        message=pr.message, requested_at=pr.requested_at, due_at=due,
        status="answered" if answered else ("overdue" if due < now else "open"),
        overdue=(answered or now) > due, answered_at=answered, proof_id=pr.proof_id,
    )


def proof_request_event(pr: ProofRequest) -> dict[str, Any]:
    """What a webhook says of a proof request (``proof_request.opened`` / ``.overdue``)."""
    return {"proof_request_id": pr.id, "case_id": pr.case_id, "milestone": pr.milestone, "finess": pr.finess,
            "due_at": iso_z(pr.due_at)}


def overdue_unannounced(session: Session, now: datetime, limit: int = 500) -> list[ProofRequest]:
    """Proof requests past due, unanswered, whose ``proof_request.overdue`` is not yet queued."""
    return list(session.exec(
        select(ProofRequest).where(ProofRequest.answered_at.is_(None),  # type: ignore[union-attr]
                                   ProofRequest.overdue_notified_at.is_(None),  # type: ignore[union-attr]
                                   ProofRequest.due_at < now)
        .order_by(ProofRequest.due_at).limit(limit).with_for_update()))  # type: ignore[arg-type]


def announce_overdue(session: Session, now: datetime, *, mailing: Mailing) -> int:
    """Queue ``proof_request.overdue`` once for each proof request fallen due, and its mail to
    the porteur and the CNSA person who asked; how many."""
    overdue = overdue_unannounced(session, now)
    for pr in overdue:
        pr.overdue_notified_at = now
        session.add(pr)
        outbox.emit(session, "proof_request.overdue", request_id=pr.request_id, data=proof_request_event(pr),
                    occurred_at=pr.due_at)
        tell.proof_request_overdue(session, mailing, pr)
    session.flush()
    return len(overdue)


def case_view(session: Session, case: ControlCase, *, now: datetime, with_requests: bool = True,
              loaded: tuple[Submission, FundingRequest, actors.Resolve] | None = None) -> ControlCaseOut:
    """A case as the API shows it; ``loaded``: its version, request and who acted on it, when the
    caller has read them already (a page of the queue reads them for all its cases at once)."""
    if loaded is None:
        sub, req = session.get(Submission, case.submission_id), session.get(FundingRequest, case.request_id)
        assert sub is not None and req is not None
        named = _actors(session, [case])
    else:
        sub, req, named = loaded
    last = last_version(req, case.milestone)
    requests = None
    if with_requests:
        requests = [proof_request_view(pr, req.galis_ref, now=now) for pr in session.exec(
            select(ProofRequest).where(ProofRequest.case_id == case.id)
            .order_by(ProofRequest.requested_at, ProofRequest.id))]  # type: ignore[arg-type]
    return ControlCaseOut(
        id=case.id, submission_id=case.submission_id, galis_ref=req.galis_ref, region_code=case.region_code,
        milestone=Milestone(case.milestone), version=case.version, latest_version=last,
        superseded=case.version != last, received_at=sub.received_at, score=case.score,
        reasons=[RiskReasonOut.model_validate(r) for r in case.reasons], status=case.status,
        opened_at=case.opened_at, claimed_by=_actor(named(case.claimed_by_key_id, case.claimed_by_person_id)),
        claimed_at=case.claimed_at, outcome=Outcome(case.outcome) if case.outcome else None,
        outcome_comment=case.outcome_comment, closed_at=case.closed_at,
        closed_by=_actor(named(case.closed_by_key_id, case.closed_by_person_id)), proof_requests=requests)


def _actors(session: Session, cases: list[ControlCase]) -> actors.Resolve:
    return actors.resolver(session.connection(), [pair for c in cases for pair in (
        (c.claimed_by_key_id, c.claimed_by_person_id), (c.closed_by_key_id, c.closed_by_person_id))])


def _actor(found: dict[str, Any] | None) -> Actor | None:
    return Actor.model_validate(found) if found else None


def get_case(session: Session, principal: Principal, case_id: str) -> ControlCaseOut:
    return case_view(session, _load_case(session, principal, case_id), now=utcnow())


#: The control queue: highest risk first, then the oldest case.
_BY_RISK = Keyset(Key("score", ControlCase.score, int, descending=True), Key("at", ControlCase.opened_at, datetime),
                  Key("id", ControlCase.id, str))


def control_queue(session: Session, principal: Principal, page: PageRequest, *, region_code: str | None,
                  milestone: Milestone | None, status: str | None) -> Page[ControlCaseOut]:
    """Cases, highest risk first (then oldest), filtered by région, milestone and status."""
    access.require_may_control(principal)
    require_known_region(region_code)
    query = select(ControlCase)
    if region_code is not None:
        query = query.where(ControlCase.region_code == region_code)
    if milestone is not None:
        query = query.where(ControlCase.milestone == milestone.value)
    if status is not None:
        query = query.where(ControlCase.status == status)
    cases, next_cursor = _BY_RISK.page(list(session.exec(_BY_RISK.select(query, page))), page,
                                       lambda c: (c.score, c.opened_at, c.id))
    now = utcnow()
    # One query per table for the page, not two per case.
    subs = {s.id: s for s in session.exec(
        select(Submission).where(Submission.id.in_([c.submission_id for c in cases])))}  # type: ignore[attr-defined]
    reqs = {r.id: r for r in session.exec(
        select(FundingRequest).where(FundingRequest.id.in_({c.request_id for c in cases})))}  # type: ignore[union-attr]
    named = _actors(session, cases)
    return Page[ControlCaseOut](
        items=[case_view(session, c, now=now, with_requests=False,
                         loaded=(subs[c.submission_id], reqs[c.request_id], named)) for c in cases],
        next_cursor=next_cursor)


def _require_workable(case: ControlCase, principal: Principal) -> None:
    if case.status == "closed":
        raise Conflict("Ce dossier de contrôle est clos.", code="control_case_closed")
    if case.status == "claimed" and not _claimed_by(case, principal) and principal.role is not Role.ADMIN:
        raise Conflict("Ce dossier de contrôle est pris en charge par un autre auditeur.",
                       code="control_case_claimed")


def _claimed_by(case: ControlCase, principal: Principal) -> bool:
    """Whether the case is claimed by this person, or by this key (a key's claim is not a person's)."""
    if principal.person_id is not None:
        return case.claimed_by_person_id == principal.person_id
    return case.claimed_by_person_id is None and case.claimed_by_key_id == principal.key_id


def _claim(case: ControlCase, principal: Principal) -> bool:
    if case.status == "open":
        case.status, case.claimed_by_key_id, case.claimed_at = "claimed", principal.key_id or None, utcnow()
        case.claimed_by_person_id = principal.person_id
        return True
    return False


def claim(session: Session, principal: Principal, case_id: str) -> ControlCaseOut:
    case = _load_case(session, principal, case_id, for_update=True)
    _require_workable(case, principal)
    if _claim(case, principal):
        session.add(case)
        session.flush()
        audit.record(session, principal, "control_case_claimed", "control_case", case.id,
                     request_id=case.request_id, galis_ref=_ref(session, case), payload={"status": case.status})
    return case_view(session, case, now=utcnow())


def _ref(session: Session, case: ControlCase) -> str:
    req = session.get(FundingRequest, case.request_id)
    assert req is not None
    return req.galis_ref


def request_proof(session: Session, principal: Principal, case_id: str,
                  command: ProofRequestCommand, *, mailing: Mailing) -> ProofRequestOut:
    """Ask for the proof of one FINESS of the case's version, due 48 hours later; the porteur is
    told by mail."""
    case = _load_case(session, principal, case_id, for_update=True)
    _require_workable(case, principal)
    finess, message = command.checked(declared_rows(session, case.submission_id))
    _claim(case, principal)
    session.add(case)
    now = utcnow()
    pr = ProofRequest(id=str(uuid.uuid4()), case_id=case.id, request_id=case.request_id, milestone=case.milestone,
                      finess=finess, message=message, requested_at=now, due_at=now + PROOF_DELAY,
                      requested_by_key_id=principal.key_id or None,
                      requested_by_person_id=principal.person_id)
    session.add(pr)
    session.flush()
    galis_ref = _ref(session, case)
    audit.record(session, principal, "proof_requested", "proof_request", pr.id, request_id=case.request_id,
                 galis_ref=galis_ref, payload={"case_id": case.id, "finess": finess, "message": pr.message,
                                               "due_at": iso_z(pr.due_at)})
    outbox.emit(session, "proof_request.opened", request_id=case.request_id, data=proof_request_event(pr))
    tell.proof_request_opened(session, mailing, pr)
    return proof_request_view(pr, galis_ref, now=now)


def record_outcome(session: Session, principal: Principal, case_id: str,
                   command: OutcomeCommand, *, mailing: Mailing) -> ControlCaseOut:
    case = _load_case(session, principal, case_id, for_update=True)
    _require_workable(case, principal)
    outcome, comment = command.checked()
    now = utcnow()
    _claim(case, principal)
    case.status, case.outcome, case.outcome_comment = "closed", outcome.value, comment
    case.closed_at, case.closed_by_key_id = now, principal.key_id or None
    case.closed_by_person_id = principal.person_id
    session.add(case)
    session.flush()
    audit.record(session, principal, "control_outcome_recorded", "control_case", case.id,
                 request_id=case.request_id, galis_ref=_ref(session, case),
                 payload={"outcome": outcome.value, "comment": comment, "score": case.score})
    tell.control_concluded(session, mailing, case, outcome=outcome.value, comment=comment, by=principal.label)
    return case_view(session, case, now=now)


_SOONEST_DUE = Keyset(Key("at", ProofRequest.due_at, datetime), Key("id", ProofRequest.id, str))


def list_proof_requests(session: Session, principal: Principal, page: PageRequest, *,
                        status: str | None) -> Page[ProofRequestOut]:
    """Proof requests in the caller's scope (a porteur sees what it must answer), oldest due first."""
    now = utcnow()
    visible = scoped_requests_query(principal).with_only_columns(FundingRequest.id)
    query = (select(ProofRequest, FundingRequest.galis_ref)
             .join(FundingRequest, FundingRequest.id == ProofRequest.request_id)  # type: ignore[arg-type]
             .where(ProofRequest.request_id.in_(visible.scalar_subquery())))  # type: ignore[attr-defined]
    if status == "answered":
        query = query.where(ProofRequest.answered_at.is_not(None))  # type: ignore[union-attr]
    elif status == "open":
        query = query.where(ProofRequest.answered_at.is_(None), ProofRequest.due_at >= now)  # type: ignore[union-attr]
    elif status == "overdue":
        query = query.where(ProofRequest.answered_at.is_(None), ProofRequest.due_at < now)  # type: ignore[union-attr]
    rows, next_cursor = _SOONEST_DUE.page(list(session.exec(_SOONEST_DUE.select(query, page))), page,
                                          lambda row: (row[0].due_at, row[0].id))
    return Page[ProofRequestOut](items=[proof_request_view(pr, ref, now=now) for pr, ref in rows],
                                 next_cursor=next_cursor)


def case_of_submission(session: Session, principal: Principal, submission_id: str) -> ControlCase | None:
    load_submission(session, principal, submission_id)
    return session.exec(select(ControlCase).where(ControlCase.submission_id == submission_id)).first()
