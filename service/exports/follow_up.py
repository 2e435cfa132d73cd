"""The regional follow-up table: one line per FINESS with where its request stands, its latest
rates, the ARS's decision, its proofs, the CNSA's open requests and the risk score — the table the
regional follow-up workshop asks for, to tell which structures to follow first.

Rows are read from the database as they are written to the workbook (memory flat in their
number); the latest version is the fin de projet one once there is one, else the VA one.
"""

from __future__ import annotations

from collections.abc import Iterator
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlmodel import Session

from service.domain import access, indicators
from service.domain.access import Principal, Role
from service.domain.declaration import COUNT_FIELDS
from service.domain.errors import Issue, ValidationFailed
from service.domain.proofs import evidence_key
from service.exports.files import FollowUpLine
from service.funding_requests.use_cases import require_known_region
from service.models import (
    API_KEY_TABLE,
    CONTROL_CASE_TABLE,
    ESTABLISHMENT_TABLE,
    FUNDING_REQUEST_TABLE,
    PROOF_REQUEST_TABLE,
    PROOF_TABLE,
    REGISTRY_ESTABLISHMENT_TABLE,
    REVIEW_TABLE,
    SUBMISSION_ROW_TABLE,
    SUBMISSION_TABLE,
)
from service.statistics.use_cases import department_of
from service.target_sets import use_cases as target_sets

_EST = ESTABLISHMENT_TABLE
_REQ = FUNDING_REQUEST_TABLE
_SUB = SUBMISSION_TABLE
_ROW = SUBMISSION_ROW_TABLE
_REVIEW = REVIEW_TABLE
_CASE = CONTROL_CASE_TABLE
_KEY = API_KEY_TABLE
_REG = REGISTRY_ESTABLISHMENT_TABLE
_PROOF = PROOF_TABLE
_PR = PROOF_REQUEST_TABLE
_BATCH = 2_000


def follow_up(session: Session, principal: Principal, *, region_code: str | None, category: str | None,
              department: str | None, zone: ZoneInfo) -> tuple[str, Iterator[FollowUpLine]]:
    """The file name and the lines of the table in the caller's scope, filtered."""
    access.require_may_see_statistics(principal)
    require_known_region(region_code)
    if category is not None and not (len(category) == 3 and category.isdigit()):
        raise ValidationFailed([Issue(code="invalid_category", field="category",
                                      message=f"Catégorie FINESS attendue sur 3 chiffres (lu « {category} »).")])
    latest_milestone = sa.case((_REQ.c.fin_projet_last_version > 0, "fin_projet"), else_="va")
    latest_version = sa.case((_REQ.c.fin_projet_last_version > 0, _REQ.c.fin_projet_last_version),
                             else_=_REQ.c.va_last_version)
    open_requests = (sa.select(sa.func.count()).select_from(_PR)
                     .where(_PR.c.request_id == _REQ.c.id, _PR.c.finess == _EST.c.finess, _PR.c.answered_at.is_(None))
                     .scalar_subquery())
    query = (sa.select(_EST.c.finess, _EST.c.name, _EST.c.category, _REQ.c.id.label("request_id"), _REQ.c.galis_ref,
                       _REQ.c.porteur_name, _REQ.c.siret, _REQ.c.region_code, _REQ.c.va_opened_on,
                       _REQ.c.fin_projet_opened_on, _REQ.c.fin_projet_due_on, _REQ.c.closed_on,
                       _SUB.c.milestone, _SUB.c.version, _SUB.c.received_at, _ROW.c.target_set_id,
                       _ROW.c.period_start, _ROW.c.period_end, *(_ROW.c[f] for f in COUNT_FIELDS),
                       _REVIEW.c.decision, _CASE.c.score, _KEY.c.role.label("pusher_role"),
                       _KEY.c.label.label("pusher"), _REG.c.finess_ej, open_requests.label("open_requests"))
             .select_from(_EST.join(_REQ, _REQ.c.id == _EST.c.request_id))
             .outerjoin(_SUB, sa.and_(_SUB.c.request_id == _REQ.c.id, _SUB.c.milestone == latest_milestone,
                                      _SUB.c.version == latest_version))
             .outerjoin(_ROW, sa.and_(_ROW.c.submission_id == _SUB.c.id, _ROW.c.finess == _EST.c.finess))
             .outerjoin(_REVIEW, _REVIEW.c.submission_id == _SUB.c.id)
             .outerjoin(_CASE, _CASE.c.submission_id == _SUB.c.id)
             .outerjoin(_KEY, _KEY.c.id == _SUB.c.received_by_key_id)
             .outerjoin(_REG, _REG.c.finess == _EST.c.finess)
             .order_by(_REQ.c.region_code, _EST.c.finess))
    region = principal.region_code if principal.role is Role.ARS_REVIEWER else region_code
    if region is not None:
        query = query.where(_REQ.c.region_code == region)
    if category is not None:
        query = query.where(_EST.c.category == category)
    conn = session.connection()
    sets = target_sets.every_set(conn)
    proven = {(r.request_id, r.evidence_key) for r in conn.execute(
        sa.select(_PROOF.c.request_id, _PROOF.c.evidence_key).where(_PROOF.c.milestone == "fin_projet"))}
    name = "suivi-deploiement" + (f"-region-{region}" if region else "") + (f"-categorie-{category}" if category
                                                                           else "")

    def lines() -> Iterator[FollowUpLine]:
        for r in conn.execution_options(yield_per=_BATCH).execute(query):
            dept = department_of(r.finess)
            if department is not None and dept != department:
                continue
            counts = {f: getattr(r, f) for f in COUNT_FIELDS} if r.target_set_id else None
            proofs_complete = None
            if counts is not None and r.milestone == "fin_projet":
                key = evidence_key(r.finess, counts, r.period_start, r.period_end)
                proofs_complete = (r.request_id, key) in proven
            yield FollowUpLine(
                finess=r.finess, finess_ej=r.finess_ej, department=dept, category=r.category, name=r.name,
                galis_ref=r.galis_ref, porteur=r.porteur_name, siret=r.siret,
                vendor=r.pusher if r.pusher_role == "vendor" else None, va_opened_on=r.va_opened_on,
                fin_projet_opened_on=r.fin_projet_opened_on, fin_projet_due_on=r.fin_projet_due_on,
                closed_on=r.closed_on, milestone=r.milestone if r.version else None, version=r.version,
                received_on=r.received_at.astimezone(zone).date() if r.received_at else None,
                indicators=indicators.evaluate(counts, sets[r.target_set_id]) if counts is not None else None,
                decision=r.decision, proofs_complete=proofs_complete, open_proof_requests=int(r.open_requests),
                risk_score=r.score)

    return name, lines()
