"""Peer statistics: each indicator's quartiles and the share of targets met, per group of
establishments (category, région, département), over the latest version of each request.

An ARS sees the groups of its région and the national level; the CNSA and administrators every
group. Groups of fewer than three establishments are suppressed (``service.domain.statistics``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Session

from service.domain import access, indicators
from service.domain import statistics as stats
from service.domain.access import Principal, Role
from service.domain.declaration import COUNT_FIELDS, EvaluatedRow
from service.domain.errors import NotFound
from service.domain.lifecycle import Milestone
from service.domain.targets import INDICATOR_KEYS
from service.models import (
    API_KEY_TABLE,
    CONTROL_CASE_TABLE,
    ESTABLISHMENT_TABLE,
    FUNDING_REQUEST_TABLE,
    LATEST_RATE_TABLE,
    REVIEW_TABLE,
    SUBMISSION_ROW_TABLE,
    SUBMISSION_TABLE,
)
from service.scope import scope_of
from service.target_sets import use_cases as target_sets

_ROW = SUBMISSION_ROW_TABLE
_SUB = SUBMISSION_TABLE
_REQ = FUNDING_REQUEST_TABLE
_EST = ESTABLISHMENT_TABLE
GROUPINGS = ("category", "region", "department", "category,region")
#: Overseas FINESS prefixes -> the département as INSEE writes it.
_OVERSEAS = {"9701": "971", "9702": "972", "9703": "973", "9704": "974", "9805": "976"}


def department_of(finess: str) -> str:
    return _OVERSEAS.get(finess[:4], finess[:3]) if finess.startswith(("97", "98")) else finess[:2]


_RATE = LATEST_RATE_TABLE
#: Per indicator, its rate and met columns in the maintained table.
_RATE_COLUMNS = tuple((_RATE.c[f"{key}_rate"], _RATE.c[f"{key}_met"]) for key in INDICATOR_KEYS)
_PEER_RATES = sa.select(_RATE.c.finess, _RATE.c.region_code, _RATE.c.category,
                        *(c for pair in _RATE_COLUMNS for c in pair))
#: The maintained row's columns, in the order of the upserts below; region and category are set
#: once (a registered request's never change), the rest replaced by each version.
RATE_NAMES = ("request_id", "milestone", "finess", "region_code", "category", "submission_id", "version",
               *(c.name for pair in _RATE_COLUMNS for c in pair))
_REPLACED = ", ".join(f"{name} = excluded.{name}" for name in RATE_NAMES[5:])
_ON_CONFLICT = f"ON CONFLICT (request_id, milestone, finess) DO UPDATE SET {_REPLACED}"
_SQLITE_UPSERT = (f"INSERT INTO latest_rate ({', '.join(RATE_NAMES)}) VALUES ({', '.join('?' * len(RATE_NAMES))}) "
                  + _ON_CONFLICT)
# One statement whatever the number of rows: the values go as one array per column. An update in
# place (no indexed column changes) rather than a delete and an insert: no dead index entries for
# the same key at every push.
_PG_UPSERT = (f"INSERT INTO latest_rate ({', '.join(RATE_NAMES)}) SELECT * FROM unnest("
              + ", ".join(f"%s::{_RATE.c[name].type.compile(dialect=postgresql.dialect())}[]" for name in RATE_NAMES)
              + ") " + _ON_CONFLICT)


def replace_latest_rates(conn: sa.Connection, *, request_id: int, region_code: str, milestone: Milestone,
                         submission_id: str, version: int, rows: Sequence[EvaluatedRow],
                         categories: Mapping[str, str | None]) -> None:
    """Make a version's rates the ones its request's milestone is counted with: called by the
    push that stores it, under the request's row lock, in the same transaction. Every version
    declares exactly its request's establishments (``declaration.check_coverage``), so each one
    replaces the rows of the version before it, FINESS for FINESS."""
    values = [rate_values(request_id=request_id, milestone=milestone, finess=e.row.finess, region_code=region_code,
                          category=categories.get(e.row.finess), submission_id=submission_id, version=version,
                          evaluation=e.indicators) for e in rows]
    if conn.dialect.name == "postgresql":
        conn.exec_driver_sql(_PG_UPSERT, tuple(list(column) for column in zip(*values, strict=True)))
    else:
        conn.exec_driver_sql(_SQLITE_UPSERT, values)


def rate_values(*, request_id: int, milestone: Milestone, finess: str, region_code: str, category: str | None,
                submission_id: str, version: int, evaluation: Mapping[str, indicators.Indicator]) -> tuple[Any, ...]:
    """One row of ``latest_rate`` for an establishment's evaluated counts, in ``RATE_NAMES`` order."""
    return (request_id, milestone.value, finess, region_code, category, submission_id, version,
            *(v for key in INDICATOR_KEYS for v in (evaluation[key].rate, evaluation[key].met)))


def _peer_rates(conn: sa.Connection, milestone: Milestone, *, category: str | None = None,
                only_category: bool = False) -> Sequence[Any]:
    """(finess, région, category, then rate and met of each indicator) per establishment."""
    query = _PEER_RATES.where(_RATE.c.milestone == milestone.value)
    if only_category:
        query = query.where(_RATE.c.category.is_(None) if category is None else _RATE.c.category == category)
    return conn.execute(query).all()  # narrow rows, one per establishment: 30 000 nationally


def _summaries(members: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """Each indicator's summary over ``members`` (rows of ``_peer_rates``)."""
    found = {}
    for i, key in enumerate(INDICATOR_KEYS):
        met_at = 4 + 2 * i
        summary = stats.summarize(_rates(members, i), [r[met_at] for r in members if r[met_at] is not None])
        found[key] = summary.as_dict() if summary else None
    return found


def _rates(members: Sequence[Sequence[Any]], i: int) -> list[float]:
    """The computable rates of the ``i``-th indicator among ``members``."""
    rate_at = 3 + 2 * i
    return [r[rate_at] for r in members if r[rate_at] is not None]


def indicator_statistics(session: Session, principal: Principal, *, milestone: Milestone,
                         group_by: str) -> dict[str, Any]:
    access.require_may_see_statistics(principal)
    fields = group_by.split(",")
    groups: dict[tuple[str | None, ...], list[Any]] = defaultdict(list)
    attribute = {"category": 2, "region": 1}
    ars_region = principal.region_code if principal.role is Role.ARS_REVIEWER else None
    everyone = _peer_rates(session.connection(), milestone)
    for r in everyone:
        if ars_region is not None and r[1] != ars_region:
            continue
        groups[tuple(department_of(r[0]) if f == "department" else r[attribute[f]] for f in fields)].append(r)
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
        "suppression_threshold": stats.SUPPRESSION_THRESHOLD, "scope": ars_region,
        "national": {"suppressed": national_suppressed,
                     "establishments": None if national_suppressed else len(everyone),
                     "indicators": None if national_suppressed else _summaries(everyone)},
        "groups": items,
    }


_OWN_LATEST_ROW = (
    sa.select(_ROW.c.target_set_id, *(_ROW.c[f] for f in COUNT_FIELDS), _SUB.c.version)
    .select_from(_ROW.join(_SUB))
    .where(_SUB.c.request_id == sa.bindparam("request_id"), _SUB.c.milestone == sa.bindparam("milestone"),
           _SUB.c.is_latest, _ROW.c.finess == sa.bindparam("finess")))


def comparison(session: Session, principal: Principal, finess: str, *, milestone: Milestone) -> dict[str, Any]:
    """An establishment's latest rates and where they stand among the establishments of its
    category, nationally and in its région (percentile rank: share of peers below, half the equal
    ones counted; withheld for fewer than three peers)."""
    conn = session.connection()
    own = conn.execute(sa.select(_EST.c.finess, _EST.c.category, _EST.c.request_id, _REQ.c.galis_ref,
                                 _REQ.c.region_code, _REQ.c.siret)
                       .join(_REQ, _REQ.c.id == _EST.c.request_id).where(_EST.c.finess == finess)).one_or_none()
    if own is None or not access.sees_request(principal, scope_of(own)):
        raise NotFound(f"Établissement {finess} introuvable.", code="establishment_not_found")
    result: dict[str, Any] = {"finess": finess, "galis_ref": own.galis_ref, "category": own.category,
                              "region_code": own.region_code, "milestone": milestone.value, "version": None,
                              "suppression_threshold": stats.SUPPRESSION_THRESHOLD, "indicators": None}
    stored = conn.execute(_OWN_LATEST_ROW, {"request_id": own.request_id, "milestone": milestone.value,
                                            "finess": finess}).one_or_none()
    if stored is None:
        return result  # no version of this milestone yet
    mine = indicators.evaluate({f: getattr(stored, f) for f in COUNT_FIELDS},
                               target_sets.by_id(conn, stored.target_set_id))
    national = _peer_rates(conn, milestone, category=own.category, only_category=True)
    regional = [r for r in national if r[1] == own.region_code]
    result["version"] = stored.version
    result["indicators"] = {key: {**mine[key].as_dict(), **{
        level: _standing(mine[key].rate, _rates(group, i)) for level, group in (("national", national),
                                                                                ("region", regional))}}
        for i, key in enumerate(INDICATOR_KEYS)}
    return result


def _standing(rate: float | None, known: list[float]) -> dict[str, Any]:
    if stats.suppressed(len(known)):
        return {"peers": None, "percentile_rank": None, "median": None, "suppressed": True}
    return {"peers": len(known), "percentile_rank": None if rate is None else stats.percentile_rank(rate, known),
            "median": stats.summarize(known, []).median, "suppressed": False}  # type: ignore[union-attr]


_CASE = CONTROL_CASE_TABLE
_REVIEW = REVIEW_TABLE
_KEY = API_KEY_TABLE
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
    latest = sa.and_(_SUB.c.request_id == _REQ.c.id, _SUB.c.milestone == milestone.value, _SUB.c.is_latest)
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
