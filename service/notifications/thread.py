"""The message thread of a funding request: what the porteur, its ARS, the CNSA and the
administrators write to each other about it, and a copy of every mail the service sent about it,
oldest first. A new message is mailed to the other side."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from service import actors
from service.audit import trail as audit
from service.domain import access
from service.domain.access import Principal
from service.domain.french_time import long_instant
from service.domain.notifications import parse_message
from service.http.schemas import Actor, Page
from service.kit.mailing import Mailing
from service.kit.pagination import Key, Keyset, PageRequest
from service.models import FundingRequest, RequestMessage, utcnow
from service.notifications.events import ars_of, porteur_of
from service.notifications.outbox import Audience, audience, tell
from service.notifications.schemas import MessageOut
from service.scope import load_request


def _view(message: RequestMessage, author: dict[str, Any] | None) -> MessageOut:
    return MessageOut(id=message.id, kind=message.kind, subject=message.subject,
                      body=message.body, created_at=message.created_at,
                      author=Actor.model_validate(author) if author else None)


_OLDEST_FIRST = Keyset(Key("at", RequestMessage.created_at, datetime), Key("id", RequestMessage.id, str))


def thread(session: Session, principal: Principal, galis_ref: str, page: PageRequest) -> Page[MessageOut]:
    """The request's messages and mails, oldest first."""
    access.require_may_use_threads(principal)
    req = load_request(session, principal, galis_ref)
    query = select(RequestMessage).where(RequestMessage.request_id == req.id)
    rows, next_cursor = _OLDEST_FIRST.page(list(session.exec(_OLDEST_FIRST.select(query, page))), page,
                                           lambda m: (m.created_at, m.id))
    named = actors.resolver(session.connection(), ((m.author_key_id, m.author_person_id) for m in rows))
    return Page[MessageOut](items=[_view(m, named(m.author_key_id, m.author_person_id)) for m in rows],
                            next_cursor=next_cursor)


def post(session: Session, principal: Principal, galis_ref: str, body: object, *, mailing: Mailing) -> MessageOut:
    """A message in the request's thread, mailed to the other side: the ARS when the porteur
    writes, the porteur when its ARS writes, both when the CNSA or an administrator does — and
    the CNSA people and administrators who wrote in the thread before."""
    access.require_may_use_threads(principal)
    req = load_request(session, principal, galis_ref)
    text = parse_message(body)
    message = RequestMessage(id=str(uuid.uuid4()), request_id=req.id, kind="message", body=text,  # type: ignore[arg-type]
                             created_at=utcnow(), author_key_id=principal.key_id or None,
                             author_person_id=principal.person_id, author_kind=principal.kind.value)
    session.add(message)
    session.flush()
    audit.record(session, principal, "message_posted", "request_message", message.id, request_id=req.id,
                 galis_ref=req.galis_ref, payload={"body": text})
    author = actors.of_principal(principal)
    tell(session, category="message", template="message.posted", thread=False, request_id=req.id,
         audiences=_other_side(session, principal, req),
         context={"galis_ref": req.galis_ref, "porteur": req.porteur_name, "author": author["label"],
                  "body": text, "posted": long_instant(message.created_at, mailing.zone),
                  "link": mailing.link(f"/console/demandes/{req.galis_ref}/messages")})
    return _view(message, author)


def _other_side(session: Session, principal: Principal, req: FundingRequest) -> list[Audience]:
    kind = principal.kind.value
    told: list[Audience] = []
    if kind != "porteur":
        told.append(audience(session, "message", porteur_of(session, req)))
    if kind != "ars":
        told.append(audience(session, "message", ars_of(session, req.region_code)))
    # the national people (CNSA, administration) who wrote in the thread follow it
    national_writers = [person for person in session.exec(select(RequestMessage.author_person_id).where(
        RequestMessage.request_id == req.id, col(RequestMessage.author_kind).in_(("cnsa", "administration")),
        col(RequestMessage.author_person_id).is_not(None)).distinct()).all()
        if person is not None and person != principal.person_id]
    if national_writers:
        told.append(audience(session, "message", None, national_writers))
    return told  # the author is never told of its own message
