"""What the caller may see: the funding requests and versions in a principal's scope, loaded or
queried the one way every capability does (absent and out-of-scope look the same: 404).

The rule itself is ``service.domain.access``; this module applies it to the shared tables.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from service.domain import access
from service.domain.access import ROLE_OF_KIND, Kind, Principal, RequestScope, Role
from service.domain.errors import InvalidIdentifier, NotFound
from service.domain.identifiers import GalisRef
from service.models import FUNDING_REQUEST_TABLE, MANDATE_TABLE, ORGANISATION_TABLE, FundingRequest, Submission


def scope_of(req: Any) -> RequestScope:
    return RequestScope(galis_ref=req.galis_ref, siret=req.siret, region_code=req.region_code)


# Statements built once: building a statement costs more than running it on the push path.
_REQUEST_BY_REF = select(FundingRequest).where(FundingRequest.galis_ref == sa.bindparam("ref"))
_REQUEST_BY_REF_FOR_UPDATE = _REQUEST_BY_REF.with_for_update()
_REQUEST_ROW_BY_REF = sa.select(FUNDING_REQUEST_TABLE).where(
    FUNDING_REQUEST_TABLE.c.galis_ref == sa.bindparam("ref"))


def load_request(session: Session, principal: Principal, galis_ref: str, *, for_update: bool = False) -> FundingRequest:
    """The request ``galis_ref`` if the caller may see it; absent and out-of-scope look the same."""
    ref = _checked_ref(galis_ref)
    req = session.exec(_REQUEST_BY_REF_FOR_UPDATE if for_update else _REQUEST_BY_REF, params={"ref": ref}).first()
    return _visible(principal, ref, req)


def load_request_row(session: Session, principal: Principal, galis_ref: str) -> Any:
    """The same as ``load_request`` as a plain row (attribute access, no ORM identity): for the push path."""
    ref = _checked_ref(galis_ref)
    return _visible(principal, ref, session.execute(_REQUEST_ROW_BY_REF, {"ref": ref}).first())


def _checked_ref(galis_ref: str) -> str:
    try:
        return GalisRef.parse(galis_ref).value
    except InvalidIdentifier:
        raise access.not_found_request(galis_ref) from None


def _visible(principal: Principal, ref: str, req: Any) -> Any:
    if req is None:
        raise access.not_found_request(ref)
    access.require_sees(principal, scope_of(req))
    return req


def submission_not_found(submission_id: str) -> NotFound:
    return NotFound(f"Version {submission_id} introuvable.", code="submission_not_found")


def load_submission(session: Session, principal: Principal, submission_id: str) -> tuple[Submission,
                                                                                          FundingRequest]:
    """A version and its request if the caller may see them; absent and out-of-scope look the same."""
    sub = session.get(Submission, submission_id)
    req = session.get(FundingRequest, sub.request_id) if sub else None
    if sub is None or req is None or not access.sees_request(principal, scope_of(req)):
        raise submission_not_found(submission_id)
    return sub, req


def scoped_requests_query(principal: Principal) -> Any:
    """Funding requests the caller may see, as a query to refine."""
    query = select(FundingRequest)
    if principal.role is Role.ARS_REVIEWER:
        query = query.where(FundingRequest.region_code == principal.region_code)
    elif principal.role is Role.PORTEUR:
        query = query.where(FundingRequest.siret == principal.siret)
    elif principal.role is Role.VENDOR:
        query = query.where(FundingRequest.galis_ref.in_(sorted(principal.galis_refs)))  # type: ignore[attr-defined]
    return query


_MANDATE = MANDATE_TABLE


def mandates_in_force(today: date | sa.BindParameter[date]) -> sa.ColumnElement[bool]:
    """The mandates an éditeur may push under on ``today`` (``domain.access.mandate_in_force`` in SQL)."""
    return sa.and_(_MANDATE.c.revoked_at.is_(None),
                   sa.or_(_MANDATE.c.starts_on.is_(None), _MANDATE.c.starts_on <= today),
                   sa.or_(_MANDATE.c.ends_on.is_(None), _MANDATE.c.ends_on >= today))


_MANDATED_REFS = sa.select(_MANDATE.c.galis_ref).where(
    _MANDATE.c.editeur_id == sa.bindparam("editeur"), mandates_in_force(sa.bindparam("today", type_=sa.Date)))


def mandated_refs(conn: sa.Connection, editeur_id: int, today: date) -> frozenset[str]:
    """The GALIS references an éditeur holds a mandate for on ``today`` (read through the
    ``(editeur_id, galis_ref)`` index)."""
    return frozenset(conn.execute(_MANDATED_REFS, {"editeur": editeur_id, "today": today}).scalars())


_ORG = ORGANISATION_TABLE
#: The organisation's columns a caller's scope comes from, to select beside a key's or a person's
#: row (joined on its ``organisation_id``).
ORGANISATION_SCOPE = (_ORG.c.kind, _ORG.c.name.label("org_name"), _ORG.c.siret.label("org_siret"),
                      _ORG.c.region_code.label("org_region_code"))


def acting_for(conn: sa.Connection, row: Any, today: date, *, label: str, name: str, manager: bool,
               key_id: int = 0, person_id: int | None = None) -> Principal:
    """The caller a key or a person (``row``, with ``organisation_id`` and ``ORGANISATION_SCOPE``)
    stands for: its organisation's role and scope and, for an éditeur, its mandates in force ``today``."""
    role = ROLE_OF_KIND[Kind(row.kind)]
    refs = mandated_refs(conn, row.organisation_id, today) if role is Role.VENDOR else frozenset()
    return Principal(key_id=key_id, role=role, label=label, region_code=row.org_region_code,
                     siret=row.org_siret if role is Role.PORTEUR else None, galis_refs=refs,
                     organisation_id=row.organisation_id, organisation_name=row.org_name, person_id=person_id,
                     manager=manager, name=name)
