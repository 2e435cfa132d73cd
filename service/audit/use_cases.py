"""Reading the audit trail, in the caller's scope."""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from service import actors
from service.audit.trail import link_of
from service.domain.access import Principal, Role
from service.kit.pagination import Key, Keyset, PageRequest
from service.models import AuditEvent, FundingRequest, iso_z
from service.scope import load_request, scoped_requests_query


def named_actors(session: Session, events: Iterable[AuditEvent]) -> actors.Resolve:
    """Who acted in ``events``, read at once."""
    return actors.resolver(session.connection(), [(e.actor_key_id, e.actor_person_id) for e in events])


def event_actor(e: AuditEvent, named: actors.Resolve) -> dict[str, Any]:
    """The actor as recorded (key, role, label: what the event's hash covers) and as known now."""
    known = named(e.actor_key_id, e.actor_person_id) or actors.service_actor(e.actor_label, e.actor_role)
    return {**known, "key_id": e.actor_key_id, "role": e.actor_role, "label": e.actor_label}


def event_view(e: AuditEvent, named: actors.Resolve) -> dict[str, Any]:
    leaf = link_of(e).leaf()
    return {
        "seq": e.seq, "index": e.log_index, "leaf": base64.b64encode(leaf).decode(),
        "occurred_at": iso_z(e.occurred_at),
        "actor": event_actor(e, named),
        "action": e.action, "object_type": e.object_type, "object_id": e.object_id, "galis_ref": e.galis_ref,
        "payload": e.payload, "payload_digest": e.payload_digest, "prev_hash": e.prev_hash, "hash": e.hash,
    }


def list_events(session: Session, principal: Principal, page: PageRequest, *, galis_ref: str | None) -> dict[str, Any]:
    """Events in chain order. National roles see all; an ARS its région's requests; a porteur
    or a vendor the requests it sees. Events about no request (keys) are national only."""
    query = sa.select(AuditEvent)
    if galis_ref is not None:
        req = load_request(session, principal, galis_ref)
        query = query.where(col(AuditEvent.request_id) == req.id)
    elif principal.role not in (Role.ADMIN, Role.CNSA_AUDITOR):
        visible = scoped_requests_query(principal).with_only_columns(FundingRequest.id)
        query = query.where(AuditEvent.request_id.in_(visible.scalar_subquery()))  # type: ignore[union-attr]
    return events_page(session, query, page, event_view)


_IN_CHAIN_ORDER = Keyset(Key("seq", AuditEvent.seq, int))


def events_page(session: Session, query: Any, page: PageRequest,
                view: Callable[[AuditEvent, actors.Resolve], Any]) -> dict[str, Any]:
    """One page of the events ``query`` selects, in number order, each shown by ``view`` with its actor."""
    events, next_cursor = _IN_CHAIN_ORDER.page(list(session.execute(_IN_CHAIN_ORDER.select(query, page)).scalars()),
                                               page, lambda e: (e.seq,))
    named = named_actors(session, events)
    return {"items": [view(e, named) for e in events], "next_cursor": next_cursor}
