"""The auditors' incremental feed: every version received, reviewed or given a proof since a
time, oldest change first, cursor-paged — national for the CNSA, one région for an ARS.

A version's ``changed_at`` is moved by each of those changes, in their transaction. The feed
ends ``settle`` before now: a change is timed inside its transaction, a little before its
commit, and a reader who had paged past that time would otherwise never see it. The answer's
``as_of`` says up to when the feed is complete; a mirror asks again from there.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from service.domain import access
from service.domain.access import Principal
from service.domain.errors import Issue, ValidationFailed
from service.funding_requests.use_cases import require_known_region
from service.kit.pagination import Key, Keyset, PageRequest
from service.models import FundingRequest, Review, Submission, iso_z, utcnow
from service.scope import scoped_requests_query

#: The auditors' feed: versions in the order they last changed.
_IN_CHANGE_ORDER = Keyset(Key("at", Submission.changed_at, datetime), Key("id", Submission.id, str))


def changed_versions(session: Session, principal: Principal, page: PageRequest, *, updated_since: datetime | None,
                     region_code: str | None, settle: timedelta) -> dict[str, Any]:
    access.require_may_follow_changes(principal)
    require_known_region(region_code)
    if updated_since is not None and updated_since.tzinfo is None:
        raise ValidationFailed([Issue(code="updated_since_without_zone", field="updated_since", message=(
            "Donnez l'instant avec son fuseau, par exemple 2026-12-01T08:00:00Z ou 2026-12-01T09:00:00+01:00."))])
    if updated_since is not None:
        try:
            updated_since = updated_since.astimezone(UTC)
        except OverflowError:
            raise ValidationFailed([Issue(code="updated_since_out_of_range", field="updated_since",
                                          message="Instant hors des dates possibles.")]) from None
    as_of = utcnow() - settle
    scoped = scoped_requests_query(principal).with_only_columns(FundingRequest.id)
    query = (sa.select(Submission.id, Submission.milestone, Submission.version, Submission.received_at,
                       Submission.changed_at, FundingRequest.galis_ref, FundingRequest.region_code,
                       Review.decision)  # type: ignore[call-overload]
             .join(FundingRequest, FundingRequest.id == Submission.request_id)
             .outerjoin(Review, Review.submission_id == Submission.id)
             .where(Submission.changed_at <= as_of))
    if principal.role is not access.Role.CNSA_AUDITOR and principal.role is not access.Role.ADMIN:
        query = query.where(Submission.request_id.in_(scoped.scalar_subquery()))  # type: ignore[attr-defined]
    if region_code is not None:
        query = query.where(FundingRequest.region_code == region_code)
    if updated_since is not None:
        query = query.where(Submission.changed_at >= updated_since)
    rows, next_cursor = _IN_CHANGE_ORDER.page(session.execute(_IN_CHANGE_ORDER.select(query, page)).all(), page,
                                              lambda r: (r.changed_at, r.id))
    return {
        "as_of": iso_z(as_of),
        "items": [{"id": r.id, "galis_ref": r.galis_ref, "region_code": r.region_code, "milestone": r.milestone,
                   "version": r.version, "received_at": iso_z(r.received_at), "changed_at": iso_z(r.changed_at),
                   "review": r.decision, "url": f"/v1/submissions/{r.id}"} for r in rows],
        "next_cursor": next_cursor,
    }
