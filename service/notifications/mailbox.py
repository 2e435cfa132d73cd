"""The outbox as an administrator reads it: every mail, to whom, how its sending went (newest
first), by status and request."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Session, col, select

from service.domain import access
from service.domain.access import Principal
from service.domain.errors import InvalidIdentifier
from service.domain.identifiers import GalisRef
from service.http.schemas import Page
from service.kit.pagination import Key, Keyset, PageRequest
from service.models import FundingRequest, MailMessage
from service.notifications.schemas import MailOut

_NEWEST_FIRST = Keyset(Key("at", MailMessage.created_at, datetime, descending=True),
                       Key("id", MailMessage.id, str, descending=True))


def list_mail(session: Session, principal: Principal, page: PageRequest, *, status: str | None,
              galis_ref: str | None) -> Page[MailOut]:
    access.require_may_read_mail(principal)
    query = select(MailMessage, FundingRequest.galis_ref).outerjoin(
        FundingRequest, col(FundingRequest.id) == MailMessage.request_id)
    if status is not None:
        query = query.where(MailMessage.status == status)
    if galis_ref is not None:
        try:
            ref = GalisRef.parse(galis_ref).value
        except InvalidIdentifier:
            return Page[MailOut](items=[], next_cursor=None)
        query = query.where(FundingRequest.galis_ref == ref)
    rows, next_cursor = _NEWEST_FIRST.page(list(session.exec(_NEWEST_FIRST.select(query, page))), page,
                                           lambda row: (row[0].created_at, row[0].id))
    return Page[MailOut](items=[MailOut(
        id=mail.id, category=mail.category, galis_ref=ref, recipients=mail.recipients, subject=mail.subject,
        status=mail.status, attempts=mail.attempts, created_at=mail.created_at,
        next_attempt_at=mail.next_attempt_at, sent_at=mail.sent_at, last_error=mail.last_error)
        for mail, ref in rows], next_cursor=next_cursor)
