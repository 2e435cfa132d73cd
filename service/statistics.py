"""Peer statistics: each indicator's quartiles and the share of targets met, per group of
establishments (category, région, département), over the latest version of each request.

An ARS sees the groups of its région and the national level; the CNSA and administrators every
group. Groups of fewer than three establishments are suppressed (``service.domain.statistics``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session

from service import targets as target_sets
from service.domain import access, indicators
from service.domain import statistics as stats
from service.domain.access import Principal, Role
from service.domain.declaration import COUNT_FIELDS
from service.domain.errors import NotFound
from service.domain.lifecycle import Milestone
from service.domain.targets import INDICATOR_KEYS, TargetSet
from service.funding_requests import LAST_VERSION, scope_of
from service.models import ApiKey, ControlCase, Establishment, FundingRequest, Review, Submission, SubmissionRow

_ROW = SubmissionRow.__table__  # type: ignore[attr-defined]
_SUB = Submission.__table__  # type: ignore[attr-defined]
_REQ = FundingRequest.__table__  # type: ignore[attr-defined]
_EST = Establishment.__table__  # type: ignore[attr-defined]
GROUPINGS = ("category", "region", "department", "category,region")
#: Overseas FINESS prefixes -> the département as INSEE writes it.
_OVERSEAS = {"9701": "971", "9702": "972", "9703": "973", "9704": "974", "9805": "976"}


def department_of(finess: str) -> str:
    return _OVERSEAS.get(finess[:4], finess[:3]) if finess.startswith(("97", "98")) else finess[:2]


def _latest_rows(session: Session, milestone: Milestone) -> Iterable[Any]:
    query = (sa.select(_ROW.c.finess, _ROW.c.target_set_id, *(_ROW.c[f] for f in COUNT_FIELDS), _REQ.c.region_code,
                       _EST.c.category, _SUB.c.version)
             .select_from(_ROW.join(_SUB).join(_REQ))
             .outerjoin(_EST, sa.and_(_EST.c.finess == _ROW.c.finess, _EST.c.request_id == _REQ.c.id))
             .where(_SUB.c.is_latest, _SUB.c.milestone == milestone.value))  # the partial index ix_submission_latest
    return session.connection().execution_options(yield_per=5_000).execute(query)


def _evaluation(r: Any, sets: Mapping[str, TargetSet]) -> dict[str, indicators.Indicator]:
    """The indicators of one stored row, against the set it was evaluated with."""
    return indicators.evaluate({f: getattr(r, f) for f in COUNT_FIELDS}, sets[r.target_set_id])


def _summaries(evaluated: Sequence[dict[str, indicators.Indicator]]) -> dict[str, Any]:
    found = {}
    for key in INDICATOR_KEYS:
        rates = [e[key].rate for e in evaluated if e[key].rate is not None]
        met = [bool(e[key].met) for e in evaluated if e[key].met is not None]
        summary = stats.summarize(rates, met)  # type: ignore[arg-type]
        found[key] = summary.as_dict() if summary else None
    return found


def indicator_statistics(session: Session, principal: Principal, *, milestone: Milestone,
                         group_by: str) -> dict[str, Any]:
    access.require_may_see_statistics(principal)
    fields = group_by.split(",")
    everyone: list[dict[str, indicators.Indicator]] = []
    groups: dict[tuple[str | None, ...], list[dict[str, indicators.Indicator]]] = defaultdict(list)
    sets = target_sets.every_set(session.connection())  # read before the rows stream on the same connection
    for r in _latest_rows(session, milestone):
        evaluation = _evaluation(r, sets)
        everyone.append(evaluation)
        if principal.role is Role.ARS_REVIEWER and r.region_code != principal.region_code:
            continue
        attributes = {"category": r.category, "region": r.region_code, "department": department_of(r.finess)}
        groups[tuple(attributes[f] for f in fields)].append(evaluation)
    items = []
    for key in sorted(groups, key=lambda k: tuple(v or "" for v in k)):
        members = groups[key]
        item: dict[str, Any] = {"group": dict(zip(fields, key, strict=True))}
        if stats.suppressed(len(members)):
            item.update(suppressed=True, establishments=None, indicators=None)
        else:
            item.update(suppressed=False, establishments=len(members), indicators=_summaries(members))
        items.append(item)
    national_suppressed = stats.suppressed(len(everyone))
    return {
        "milestone": milestone.value, "group_by": fields, "quantile_method": stats.QUANTILE_METHOD,
        "suppression_threshold": stats.SUPPRESSION_THRESHOLD,
        "scope": principal.region_code if principal.role is Role.ARS_REVIEWER else None,
        "national": {"suppressed": national_suppressed,
                     "establishments": None if national_suppressed else len(everyone),
                     "indicators": None if national_suppressed else _summaries(everyone)},
        "groups": items,
    }



def comparison(session: Session, principal: Principal, finess: str, *, milestone: Milestone) -> dict[str, Any]:
    """An establishment's latest rates and where they stand among the establishments of its
    category, nationally and in its région (percentile rank: share of peers below, half the equal
    ones counted; withheld for fewer than three peers)."""
    conn = session.connection()
    own = conn.execute(sa.select(_EST.c.finess, _EST.c.category, _REQ.c.galis_ref, _REQ.c.region_code, _REQ.c.siret)
                       .join(_REQ, _REQ.c.id == _EST.c.request_id).where(_EST.c.finess == finess)).one_or_none()
    if own is None or not access.sees_request(principal, scope_of(own)):
        raise NotFound(f"Établissement {finess} introuvable.", code="establishment_not_found")
    sets = target_sets.every_set(conn)
    mine: dict[str, indicators.Indicator] | None = None
    version = None
    peers: list[tuple[str, dict[str, indicators.Indicator]]] = []
    for r in _latest_rows(session, milestone):
        if r.category != own.category:
            continue
        evaluation = _evaluation(r, sets)
        peers.append((r.region_code, evaluation))
        if r.finess == finess:
            mine, version = evaluation, r.version
    result: dict[str, Any] = {"finess": finess, "galis_ref": own.galis_ref, "category": own.category,
                              "region_code": own.region_code, "milestone": milestone.value, "version": version,
                              "suppression_threshold": stats.SUPPRESSION_THRESHOLD, "indicators": None}
    if mine is None:
        return result  # no version of this milestone yet
    result["indicators"] = {key: {**mine[key].as_dict(), **{
        level: _standing(mine[key].rate, [e[key].rate for region, e in peers if level == "national"
                                           or region == own.region_code])
        for level in ("national", "region")}} for key in INDICATOR_KEYS}
    return result


def _standing(rate: float | None, rates: list[float | None]) -> dict[str, Any]:
    known = [r for r in rates if r is not None]
    if stats.suppressed(len(known)):
        return {"peers": None, "percentile_rank": None, "median": None, "suppressed": True}
    return {"peers": len(known), "percentile_rank": None if rate is None else stats.percentile_rank(rate, known),
            "median": stats.summarize(known, []).median, "suppressed": False}  # type: ignore[union-attr]


_CASE = ControlCase.__table__  # type: ignore[attr-defined]
_REVIEW = Review.__table__  # type: ignore[attr-defined]
_KEY = ApiKey.__table__  # type: ignore[attr-defined]
_OPENED = {Milestone.VA: _REQ.c.va_opened_on, Milestone.FIN_PROJET: _REQ.c.fin_projet_opened_on}
NO_VENDOR = "sans éditeur (porteur ou administrateur)"
REPORTING_FIELDS = ("requests", "milestone_open", "with_version", "on_time", "late", "accepted", "rejected",
                    "changes_requested", "proofs_complete")


def reporting(session: Session, principal: Principal, *, milestone: Milestone, group_by: str,
              today: date, zone: ZoneInfo) -> dict[str, Any]:
    """Per région or per vendor (the software that pushed the latest version): how far the
    requests are with the milestone — open, with a version, on time or late (fin de projet: its
    deadline), the ARS's decision on the latest version, and whether its proofs are complete (no
    ``proofs_missing`` reason left in its control case)."""
    access.require_may_see_statistics(principal)
    latest = sa.and_(_SUB.c.request_id == _REQ.c.id, _SUB.c.milestone == milestone.value,
                     _SUB.c.version == LAST_VERSION[milestone])
    query = (sa.select(_REQ.c.region_code, _OPENED[milestone].label("opened_on"), _REQ.c.closed_on,
                       _REQ.c.fin_projet_due_on, _SUB.c.received_at, _REVIEW.c.decision, _CASE.c.reasons,
                       _KEY.c.role.label("pusher_role"), _KEY.c.label.label("pusher"))
             .select_from(_REQ).outerjoin(_SUB, latest).outerjoin(_REVIEW, _REVIEW.c.submission_id == _SUB.c.id)
             .outerjoin(_CASE, _CASE.c.submission_id == _SUB.c.id)
             .outerjoin(_KEY, _KEY.c.id == _SUB.c.received_by_key_id))
    if principal.role is Role.ARS_REVIEWER:
        query = query.where(_REQ.c.region_code == principal.region_code)
    groups: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(REPORTING_FIELDS, 0))
    for r in session.connection().execution_options(yield_per=5_000).execute(query):
        key = r.region_code if group_by == "region" else (r.pusher if r.pusher_role == "vendor" else NO_VENDOR)
        counts = groups[key or NO_VENDOR]
        counts["requests"] += 1
        counts["milestone_open"] += r.opened_on is not None and r.closed_on is None
        due = r.fin_projet_due_on if milestone is Milestone.FIN_PROJET else None
        if r.received_at is not None:
            counts["with_version"] += 1
            in_time = due is None or r.received_at.astimezone(zone).date() <= due
            counts["on_time"] += in_time
            counts["late"] += not in_time
            codes = {reason.get("code") for reason in (r.reasons or [])}
            counts["proofs_complete"] += milestone is Milestone.FIN_PROJET and "proofs_missing" not in codes
        elif due is not None and r.opened_on is not None and today > due:
            counts["late"] += 1
        if r.decision in ("accepted", "rejected", "changes_requested"):
            counts[r.decision] += 1
    return {"milestone": milestone.value, "group_by": group_by,
            "scope": principal.region_code if principal.role is Role.ARS_REVIEWER else None,
            "groups": [{"group": key, **groups[key]} for key in sorted(groups)]}
