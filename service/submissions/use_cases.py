"""Use cases of declarations (remontées): push a new version, read versions.

Load rows, call the domain rules, persist; no HTTP and no commit here.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from types import MappingProxyType, SimpleNamespace
from typing import Any

import orjson
import sqlalchemy as sa
from sqlmodel import Session, select

from service import actors
from service.audit import trail as audit
from service.control import use_cases as control
from service.domain import access, declaration, indicators, template
from service.domain.access import Principal
from service.domain.declaration import COUNT_FIELDS, DeclarationRow, EvaluatedDeclaration
from service.domain.errors import Issue, ValidationFailed
from service.domain.lifecycle import LifecycleState, Milestone
from service.funding_requests.use_cases import (
    LAST_VERSION,
    REQUEST_ROW_BY_ID,
    categories_of,
    last_version,
    lifecycle_state,
)
from service.http.schemas import Page
from service.kit.cache import BoundedCache
from service.kit.db import insert_many
from service.kit.pagination import Key, Keyset, PageRequest
from service.models import (
    FUNDING_REQUEST_TABLE,
    IDEMPOTENCY_RECORD_TABLE,
    SUBMISSION_ROW_TABLE,
    SUBMISSION_TABLE,
    FundingRequest,
    IdempotencyRecord,
    Submission,
    SubmissionRow,
    iso_z,
    utcnow,
)
from service.proofs.use_cases import proofs_of_version
from service.review.use_cases import reviews_of
from service.scope import load_request, load_request_row, load_submission, scope_of, submission_not_found
from service.statistics import use_cases as statistics
from service.submissions.schemas import SubmissionSummary
from service.target_sets import use_cases as target_sets
from service.webhooks import outbox

_OPENED_ON = {
    Milestone.VA: FUNDING_REQUEST_TABLE.c.va_opened_on,
    Milestone.FIN_PROJET: FUNDING_REQUEST_TABLE.c.fin_projet_opened_on,
}


_TABLE = FUNDING_REQUEST_TABLE
#: Statements built once: building a statement costs more than running it on the push path.
_TAKE_VERSION = {
    milestone: sa.update(_TABLE)
    .where(_TABLE.c.id == sa.bindparam("request_id"), _TABLE.c.closed_on.is_(None),
           _OPENED_ON[milestone].is_not(None))
    .values({LAST_VERSION[milestone]: LAST_VERSION[milestone] + 1})
    .returning(LAST_VERSION[milestone].label("version"), _TABLE.c.va_opened_on, _TABLE.c.fin_projet_opened_on,
               _TABLE.c.fin_projet_due_on, _TABLE.c.closed_on)
    for milestone in Milestone
}
_ROW_TABLE = SUBMISSION_ROW_TABLE
_ROWS_OF_VERSION = (
    sa.select(_ROW_TABLE.c.finess, *(_ROW_TABLE.c[f] for f in COUNT_FIELDS))
    .join_from(_ROW_TABLE, SUBMISSION_TABLE)
    .where(SUBMISSION_TABLE.c.request_id == sa.bindparam("request_id"),
           SUBMISSION_TABLE.c.milestone == sa.bindparam("milestone"),
           SUBMISSION_TABLE.c.version == sa.bindparam("version"))
)
_ROWS_FOR_DIFF = (
    sa.select(_ROW_TABLE.c.finess, _ROW_TABLE.c.raison_sociale, _ROW_TABLE.c.period_start, _ROW_TABLE.c.period_end,
              _ROW_TABLE.c.target_set_id, *(_ROW_TABLE.c[f] for f in COUNT_FIELDS))
    .join_from(_ROW_TABLE, SUBMISSION_TABLE)
    .where(SUBMISSION_TABLE.c.request_id == sa.bindparam("request_id"),
           SUBMISSION_TABLE.c.milestone == sa.bindparam("milestone"),
           SUBMISSION_TABLE.c.version == sa.bindparam("version"))
)
_INSERT_SUBMISSION = sa.insert(SUBMISSION_TABLE)
_SUPERSEDED = (sa.update(SUBMISSION_TABLE)
               .where(SUBMISSION_TABLE.c.request_id == sa.bindparam("b_request_id"),
                      SUBMISSION_TABLE.c.milestone == sa.bindparam("b_milestone"),
                      SUBMISSION_TABLE.c.version < sa.bindparam("b_version"), SUBMISSION_TABLE.c.is_latest.is_(True))
               .values(awaiting_review=False, is_latest=False))
_INSERT_IDEMPOTENCY = sa.insert(IDEMPOTENCY_RECORD_TABLE)


@dataclass(frozen=True)
class PushOptions:
    today: date
    max_rows: int
    dry_run: bool = False
    idempotency_key: str | None = None
    source: str = "json"


@dataclass(frozen=True)
class PushResult:
    body: dict[str, Any]
    created: bool
    #: (request id, milestone, version) and counts of the version created, to remember once committed.
    stored: tuple[tuple[int, str, int], dict[str, dict[str, int]]] | None = None


@dataclass(frozen=True)
class RequestFacts:
    """What never changes about a registered funding request: safe to keep in every process."""

    id: int
    galis_ref: str
    siret: str
    region_code: str
    campaign_year: int
    categories: Mapping[str, str | None]


class PushCache:
    """Per-process caches of the push path, holding immutable facts only.

    The lifecycle of a request (which milestone is open, whether it is closed) changes and is
    never cached: the statement that takes the next version number reads it under the row lock.
    A version's counts are remembered only once the version is committed.
    """

    def __init__(self, requests: int = 10_000, versions: int = 2_000) -> None:
        self.requests: BoundedCache[str, RequestFacts] = BoundedCache(requests)
        self.counts: BoundedCache[tuple[int, str, int], dict[str, dict[str, int]]] = BoundedCache(versions)

    def remember(self, result: PushResult) -> None:
        if result.stored is not None:
            self.counts.put(*result.stored)


def request_hash(galis_ref: str, payload: object) -> str:
    """Digest of what was pushed, to tell a replay from a different body under the same key."""
    canonical = json.dumps([galis_ref, payload], sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def fingerprint(galis_ref: str, milestone: Milestone, rows: list[DeclarationRow]) -> str:
    """SHA-256 of the declared data (not of its presentation): the identity of a version's content."""
    data = [galis_ref, milestone.value, [
        [r.finess, r.raison_sociale, r.dmp_fed, r.mss_messages_sent, r.active_dui, r.persons_accompanied,
         r.dui_with_personal_plan, r.dui_with_agenda_event, r.period_start.isoformat(), r.period_end.isoformat()]
        for r in sorted(rows, key=lambda r: r.finess)
    ]]
    # orjson writes the bytes of json.dumps(data, separators=(",", ":"), ensure_ascii=False), faster.
    return hashlib.sha256(orjson.dumps(data)).hexdigest()


def record_submission(session: Session, principal: Principal, galis_ref: str, payload: object,
                      options: PushOptions, cache: PushCache, *,
                      sheet: template.TemplateRead | None = None) -> PushResult:
    """Validate a declaration and store it as the next version of its milestone.

    ``payload`` has the JSON body's shape; for a template file it is built from the sheet,
    and ``sheet`` carries the sheet's row numbers and the template's own issues, reported with
    those of the declaration rules.

    Checks run in the order a client can act on: the request exists in the caller's scope
    (404), the role may push (403), the idempotency key (replay or 422), the milestone is open
    and the request not closed (409), then every rule of the declaration at once (422). The
    version number is taken before the rules are checked; a refusal rolls it back with the rest.
    """
    conn = session.connection()  # Core statements only below: the ORM layer is not needed
    req = _request_facts(session, principal, galis_ref, cache)
    access.require_may_submit(principal)
    # Hashing the whole body costs as much as parsing it: only for a push that may be replayed.
    digest = request_hash(req.galis_ref, payload) if options.idempotency_key is not None else ""
    if options.idempotency_key is not None and not options.dry_run:
        replay = _replay(session, principal, options.idempotency_key, digest)
        if replay is not None:
            return PushResult(body=replay, created=False)

    version, state = _take_version(conn, req, payload, dry_run=options.dry_run)
    parsed = _parse(payload, options, req, sheet)
    milestone = parsed.milestone  # valid here: parsing refuses an unknown milestone
    assert version is not None and state is not None
    previous = _counts_of_version(conn, cache, req.id, milestone, version - 1) if version > 1 else None
    evaluated, stored_warnings = _evaluate(conn, req, parsed, state, options, sheet, previous)

    values = _version_row(req, principal, parsed, evaluated, stored_warnings, version=version, source=options.source)
    body = submission_view(SimpleNamespace(**values), galis_ref=req.galis_ref, evaluated=evaluated,
                           pushed_by=actors.of_principal(principal),
                           status="dry_run" if options.dry_run else "received")
    if options.dry_run:
        body["id"], body["version"] = None, None
        body["diff"] = _diff_with_latest(conn, req.id, milestone, version - 1, evaluated)
        return PushResult(body=body, created=False)

    _store(session, conn, principal, req, values, evaluated, options, digest=digest, state=state, previous=previous)
    counts = {e.row.finess: e.counts for e in evaluated.rows}
    return PushResult(body=body, created=True, stored=((req.id, milestone.value, version), counts))


def _take_version(conn: sa.Connection, req: RequestFacts, payload: object, *,
                  dry_run: bool) -> tuple[int | None, LifecycleState | None]:
    """The number of the version this push makes and the request's state, the milestone open
    (409 otherwise); ``None`` when the body names no valid milestone (reported with the rules).
    A real push takes the number under the request's row lock; a dry run only reads it."""
    try:
        declared = Milestone.parse(payload.get("milestone")) if isinstance(payload, dict) else None
    except ValidationFailed:
        declared = None  # reported with the other issues of the declaration
    if declared is None:
        return None, None
    if not dry_run:
        return _next_version(conn, req.id, declared)
    current = conn.execute(REQUEST_ROW_BY_ID, {"request_id": req.id}).one()
    state = lifecycle_state(current)
    state.require_open(declared)
    return last_version(current, declared) + 1, state


def _evaluate(conn: sa.Connection, req: RequestFacts, parsed: declaration.ParsedSubmission, state: LifecycleState,
              options: PushOptions, sheet: template.TemplateRead | None,
              previous: dict[str, dict[str, int]] | None) -> tuple[EvaluatedDeclaration, list[dict[str, Any]]]:
    """The declaration against its targets and the previous version, its warnings (the sheet's
    first, by cell, then lateness, then the rules') and those stored with their justifications;
    422 when a fin de projet warning is not justified."""
    in_force = target_sets.in_force(conn, campaign_year=req.campaign_year)
    evaluated = declaration.evaluate_declaration(parsed.rows, categories=req.categories, target_sets=in_force,
                                                 campaign_year=req.campaign_year, previous=previous)
    late = state.lateness_warning(parsed.milestone, today=options.today)
    if late is not None:
        evaluated.warnings.insert(0, late)
    if sheet is not None and sheet.warnings:  # the cells read with a warning, first, by cell
        evaluated.warnings[:0] = [template.address(w) for w in sheet.warnings]
    stored_warnings, unjustified = declaration.acknowledge(
        evaluated.warnings, parsed.rows, parsed.acknowledgements, required=parsed.milestone is Milestone.FIN_PROJET)
    if unjustified:
        raise ValidationFailed(unjustified, code="warning_not_acknowledged" if any(
            i.code == "warning_not_acknowledged" for i in unjustified) else None)
    return evaluated, stored_warnings


def _version_row(req: RequestFacts, principal: Principal, parsed: declaration.ParsedSubmission,
                 evaluated: EvaluatedDeclaration, stored_warnings: list[dict[str, Any]], *, version: int,
                 source: str) -> dict[str, Any]:
    """The ``submission`` row of the new version."""
    received_at = utcnow()
    provenance = parsed.provenance
    return {
        "id": str(uuid.uuid4()), "request_id": req.id, "milestone": parsed.milestone.value, "version": version,
        "received_at": received_at, "received_by_key_id": principal.key_id or None,
        "received_by_person_id": principal.person_id, "source": source,
        "fingerprint": fingerprint(req.galis_ref, parsed.milestone, parsed.rows), "row_count": len(parsed.rows),
        "targets_met": evaluated.targets_met, "warnings": stored_warnings, "awaiting_review": True,
        "is_latest": True, "changed_at": received_at,
        "software_name": provenance.software_name if provenance else None,
        "software_version": provenance.software_version if provenance else None,
        "extracted_at": provenance.extracted_at if provenance else None,
    }


def _store(session: Session, conn: sa.Connection, principal: Principal, req: RequestFacts, values: dict[str, Any],
           evaluated: EvaluatedDeclaration, options: PushOptions, *, digest: str, state: LifecycleState,
           previous: dict[str, dict[str, int]] | None) -> None:
    """Write the version, its rows, the latest rates, the idempotency record, its control case,
    its audit event and its webhook event, in the push's transaction (``conn``: the session's)."""
    submission_id, version, milestone = values["id"], values["version"], Milestone(values["milestone"])
    conn.execute(_INSERT_SUBMISSION, values)
    if version > 1:  # the version it replaces is no longer the latest, nor waits for a decision (request locked)
        conn.execute(_SUPERSEDED, {"b_request_id": req.id, "b_milestone": milestone.value, "b_version": version})
    insert_many(conn, _ROW_TABLE, [
        {"submission_id": submission_id, "row_number": e.row.row, "finess": e.row.finess,
         "raison_sociale": e.row.raison_sociale, "period_start": e.row.period_start,
         "period_end": e.row.period_end, "target_set_id": e.target_set.id, **e.counts}
        for e in evaluated.rows
    ])
    statistics.replace_latest_rates(conn, request_id=req.id, region_code=req.region_code, milestone=milestone,
                                    submission_id=submission_id, version=version, rows=evaluated.rows,
                                    categories=req.categories)
    if options.idempotency_key is not None:
        conn.execute(_INSERT_IDEMPOTENCY, [{
            "api_key_id": principal.key_id, "key": options.idempotency_key, "request_hash": digest,
            "submission_id": submission_id, "created_at": values["received_at"],
        }])
    case = control.open_case(conn, submission_id=submission_id, request_id=req.id, region_code=req.region_code,
                             milestone=milestone, version=version, rows=evaluated.rows, received_on=options.today,
                             due_on=state.fin_projet_due_on, previous=previous)
    audit.record(session, principal, "submission_stored", "submission", submission_id, request_id=req.id,
                 galis_ref=req.galis_ref, payload={
                     "milestone": milestone.value, "version": version, "fingerprint": values["fingerprint"],
                     "row_count": values["row_count"], "source": options.source,
                     "targets_met": evaluated.targets_met, "warning_count": len(evaluated.warnings),
                     "control_case": case})
    outbox.emit(session, "submission.stored", request_id=req.id, data={
        "submission_id": submission_id, "milestone": milestone.value, "version": version,
        "targets_met": evaluated.targets_met, "warning_count": len(evaluated.warnings)})


def _parse(payload: object, options: PushOptions, req: RequestFacts,
           sheet: template.TemplateRead | None) -> declaration.ParsedSubmission:
    try:
        parsed = declaration.parse_submission(
            payload, today=options.today, max_rows=options.max_rows, expected=req.categories,
            galis_ref=req.galis_ref, row_numbers=sheet.row_numbers if sheet is not None else None, now=utcnow())
    except ValidationFailed as exc:
        if sheet is None:
            raise
        raise ValidationFailed(template.merge_issues(sheet.issues, exc.issues)) from None
    if sheet is not None and sheet.issues:
        raise ValidationFailed(template.merge_issues(sheet.issues, []))
    return parsed


def push_facts(session: Session, principal: Principal, galis_ref: str, cache: PushCache) -> RequestFacts:
    """The request a push is for, once the caller is known to see it and allowed to push."""
    facts = _request_facts(session, principal, galis_ref, cache)
    access.require_may_submit(principal)
    return facts


def _request_facts(session: Session, principal: Principal, galis_ref: str, cache: PushCache) -> RequestFacts:
    """The request as ``load_request_row`` finds it, its immutable part kept in ``cache``."""
    facts = cache.requests.get(galis_ref)
    if facts is None:
        row = load_request_row(session, principal, galis_ref)
        facts = RequestFacts(id=row.id, galis_ref=row.galis_ref, siret=row.siret, region_code=row.region_code,
                             campaign_year=row.campaign_year,
                             categories=MappingProxyType(categories_of(session, row.id)))
        cache.requests.put(galis_ref, facts)
    else:
        access.require_sees(principal, scope_of(facts))
    return facts


def _next_version(conn: sa.Connection, request_id: int, milestone: Milestone) -> tuple[int, LifecycleState]:
    """Take the next version number under the request row's write lock.

    The increment and the check that the milestone is still open are one statement, which also
    returns the lifecycle as it stands under the lock, so a concurrent ``balance_paid`` or
    another push cannot slip in between: versions have no gap (the increment is rolled back
    with a refused push) and no duplicate (the unique constraint on (request, milestone,
    version) stands behind it).
    """
    taken = conn.execute(_TAKE_VERSION[milestone], {"request_id": request_id}).first()
    if taken is None:  # closed or not open since it was read: say which
        current = conn.execute(REQUEST_ROW_BY_ID, {"request_id": request_id}).one()
        lifecycle_state(current).require_open(milestone)
        raise RuntimeError("milestone counter update matched no row")
    return int(taken.version), lifecycle_state(taken)


def _stored_rows(conn: sa.Connection, request_id: int, milestone: Milestone, version: int,
                 ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, bool | None]]]:
    """A stored version's rows by FINESS, and which targets each met (with its own target set)."""
    stored = conn.execute(_ROWS_FOR_DIFF, {"request_id": request_id, "milestone": milestone.value,
                                           "version": version}).mappings().all()
    rows = {r["finess"]: dict(r) for r in stored}
    met = {r["finess"]: {k: ind.met for k, ind in indicators.evaluate(
        {f: r[f] for f in COUNT_FIELDS}, target_sets.by_id(conn, r["target_set_id"])).items()} for r in stored}
    return rows, met


def _diff_with_latest(conn: sa.Connection, request_id: int, milestone: Milestone, latest: int,
                      evaluated: EvaluatedDeclaration) -> dict[str, Any]:
    """A dry run's ``diff``: against the latest stored version of the milestone, if any."""
    if latest < 1:
        return {"against_version": None, "changed": [], "added": sorted(e.row.finess for e in evaluated.rows),
                "removed": []}
    before, before_met = _stored_rows(conn, request_id, milestone, latest)
    after = {e.row.finess: {"raison_sociale": e.row.raison_sociale, "period_start": e.row.period_start,
                            "period_end": e.row.period_end, **e.counts} for e in evaluated.rows}
    after_met = {e.row.finess: {k: ind.met for k, ind in e.indicators.items()} for e in evaluated.rows}
    return {"against_version": latest, **declaration.version_diff(before, after, before_met, after_met)}


def diff_with_previous(session: Session, principal: Principal, submission_id: str) -> dict[str, Any] | None:
    """What a stored version changed against the version before it (same milestone); ``None``
    for a first version. The same diff as a dry run's."""
    sub, req = load_submission(session, principal, submission_id)
    if sub.version <= 1:
        return None
    conn = session.connection()
    milestone = Milestone(sub.milestone)
    before, before_met = _stored_rows(conn, req.id, milestone, sub.version - 1)  # type: ignore[arg-type]
    after, after_met = _stored_rows(conn, req.id, milestone, sub.version)  # type: ignore[arg-type]
    return {"against_version": sub.version - 1, **declaration.version_diff(before, after, before_met, after_met)}


def _counts_of_version(conn: sa.Connection, cache: PushCache, request_id: int, milestone: Milestone,
                       version: int) -> dict[str, dict[str, int]]:
    # Not remembered here: the version read may belong to the same uncommitted group.
    counts = cache.counts.get((request_id, milestone.value, version))
    if counts is None:
        rows = conn.execute(_ROWS_OF_VERSION, {"request_id": request_id, "milestone": milestone.value,
                                                  "version": version}).mappings()
        counts = {r["finess"]: {f: r[f] for f in COUNT_FIELDS} for r in rows}
    return counts


def _replay(session: Session, principal: Principal, key: str, digest: str) -> dict[str, Any] | None:
    record = session.exec(select(IdempotencyRecord).where(
        IdempotencyRecord.api_key_id == principal.key_id, IdempotencyRecord.key == key)).first()
    if record is None:
        return None
    if record.request_hash != digest:
        raise ValidationFailed([Issue(
            code="idempotency_key_reused", field="Idempotency-Key",
            message="Cette clé d'idempotence a déjà servi pour un envoi différent : utilisez une nouvelle clé.",
        )])
    return _stored_view(session, record.submission_id)


def submission_view(sub: Any, *, galis_ref: str, evaluated: EvaluatedDeclaration,
                    pushed_by: dict[str, Any], status: str = "received",
                    supersedes: int | None = None) -> dict[str, Any]:
    target_sets = {e.target_set.id: e.target_set for e in evaluated.rows}
    return {
        "id": sub.id,
        "galis_ref": galis_ref,
        "milestone": sub.milestone,
        "version": sub.version,
        "received_at": iso_z(sub.received_at),
        "status": status,
        "source": sub.source,
        "pushed_by": pushed_by,
        "supersedes_version": supersedes if supersedes is not None else (sub.version - 1 or None),
        "fingerprint": sub.fingerprint,
        "rows": [_row_view(e.row, e.target_set.id, e.indicators, e.counts) for e in evaluated.rows],
        "warnings": sub.warnings,
        "targets_met": sub.targets_met,
        "target_sets": [ts.as_dict() for ts in target_sets.values()],
        "provenance": provenance_of(sub),
    }


def provenance_of(sub: Any) -> dict[str, Any] | None:
    """Where a version's figures come from, as the push said (``None`` when it said nothing)."""
    name, extracted = getattr(sub, "software_name", None), getattr(sub, "extracted_at", None)
    if name is None and extracted is None:
        return None
    return declaration.Provenance(software_name=name, software_version=getattr(sub, "software_version", None),
                                  extracted_at=extracted).as_dict()


def _row_view(row: DeclarationRow, target_set_id: str, evaluation: Mapping[str, indicators.Indicator],
              counts: dict[str, int]) -> dict[str, Any]:
    return {
        "row": row.row,
        "finess": row.finess,
        "raison_sociale": row.raison_sociale,
        **counts,
        "period_start": row.period_start.isoformat(),
        "period_end": row.period_end.isoformat(),
        "target_set": target_set_id,
        "indicators": {key: ind.as_dict() for key, ind in evaluation.items()},
    }


def _stored_view(session: Session, submission_id: str) -> dict[str, Any]:
    sub = session.get(Submission, submission_id)
    if sub is None:
        raise submission_not_found(submission_id)
    req = session.get(FundingRequest, sub.request_id)
    assert req is not None
    return _view_of_stored(session, sub, req)


def _view_of_stored(session: Session, sub: Submission, req: FundingRequest) -> dict[str, Any]:
    stored = session.exec(select(SubmissionRow).where(SubmissionRow.submission_id == sub.id)
                          .order_by(SubmissionRow.row_number)).all()  # type: ignore[arg-type]
    rows = [_declaration_row(r) for r in stored]
    evaluated = EvaluatedDeclaration(rows=[
        declaration.EvaluatedRow(row=row, target_set=used, indicators=indicators.evaluate(counts, used),
                                 counts=counts)
        for row, r in zip(rows, stored, strict=True)
        for counts, used in ((row.counts(), target_sets.by_id(session.connection(), r.target_set_id)),)
    ])
    pushed_by = actors.one(session.connection(), sub.received_by_key_id, sub.received_by_person_id) \
        or actors.service_actor("", "")
    return submission_view(sub, galis_ref=req.galis_ref, evaluated=evaluated, pushed_by=pushed_by)


def _declaration_row(r: SubmissionRow) -> DeclarationRow:
    return DeclarationRow(row=r.row_number, finess=r.finess, raison_sociale=r.raison_sociale,
                          period_start=r.period_start, period_end=r.period_end,
                          **{f: getattr(r, f) for f in COUNT_FIELDS})


def get_submission(session: Session, principal: Principal, submission_id: str) -> dict[str, Any]:
    sub, req = load_submission(session, principal, submission_id)
    return {**_view_of_stored(session, sub, req), **proofs_of_version(session, sub, req.galis_ref),
            "reviews": [r.model_dump(mode="json") for r in reviews_of(session, sub.id)]}


#: A request's versions, newest first (by reception).
_VERSIONS = Keyset(Key("at", Submission.received_at, datetime, descending=True),
                   Key("id", Submission.id, str, descending=True))


def list_versions(session: Session, principal: Principal, galis_ref: str, page: PageRequest,
                  *, milestone: Milestone | None) -> Page[SubmissionSummary]:
    """Versions of a request, newest first (by reception), optionally for one milestone."""
    req = load_request(session, principal, galis_ref)
    query = select(Submission).where(Submission.request_id == req.id)
    if milestone is not None:
        query = query.where(Submission.milestone == milestone.value)
    subs, next_cursor = _VERSIONS.page(list(session.exec(_VERSIONS.select(query, page))), page,
                                       lambda s: (s.received_at, s.id))
    return Page[SubmissionSummary](items=[SubmissionSummary(
        id=s.id, galis_ref=req.galis_ref, milestone=Milestone(s.milestone), version=s.version,
        received_at=s.received_at, status="received", row_count=s.row_count, warning_count=len(s.warnings),
        targets_met=s.targets_met) for s in subs], next_cursor=next_cursor)
