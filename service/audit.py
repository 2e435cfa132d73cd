"""The audit trail: one event per change, written in the change's own transaction.

Appending locks the chain's head row (``audit_head``), so the chain never forks, whatever the
number of writer threads and processes. On PostgreSQL the writer takes that lock first in
every transaction (``lock_head``), so that transactions always lock the head before any
other row and cannot deadlock on it. Within a transaction the head is read once and kept in
the session; it is written back once, just before the commit: a group of writes appends its
events with one read and one write of the head.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

from service.domain import audit
from service.domain.access import Principal, Role
from service.models import AuditEvent, AuditHead, utcnow

_EVENT = AuditEvent.__table__  # type: ignore[attr-defined]
_HEAD = AuditHead.__table__  # type: ignore[attr-defined]
_READ_HEAD = sa.select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1).with_for_update()
_MOVE_HEAD = sa.update(_HEAD).where(_HEAD.c.id == 1)
_INSERT = sa.insert(_EVENT)

#: The actor of changes made from the command line, not through an API key.
OPERATOR = Principal(key_id=0, role=Role.ADMIN, label="ligne de commande")


#: session.info key of the head as this transaction sees it: (seq, hash, changed).
HEAD_KEY = "audit_head"


def lock_head(session: Session) -> None:
    """Lock the chain's head and keep it for the transaction's appends."""
    head = session.connection().execute(_READ_HEAD).one()
    session.info[HEAD_KEY] = (int(head.seq), str(head.hash), False)


def record(session: Session, actor: Principal, action: str, object_type: str, object_id: str, *,
           payload: Mapping[str, Any], request_id: int | None = None, galis_ref: str | None = None) -> int:
    """Append one event after the chain's head; return its number."""
    conn = session.connection()
    if HEAD_KEY not in session.info:
        lock_head(session)
    seq, prev_hash, _ = session.info[HEAD_KEY]
    clean = dict(payload)
    link = audit.Link(
        seq=seq + 1, occurred_at=utcnow(), actor_key_id=actor.key_id or None,
        actor_role=actor.role.value, actor_label=actor.label[:200], action=action, object_type=object_type,
        object_id=str(object_id), galis_ref=galis_ref, payload_digest=audit.payload_digest(clean),
        prev_hash=prev_hash,
    )
    digest = link.hash()
    conn.execute(_INSERT, {
        "seq": link.seq, "occurred_at": link.occurred_at, "actor_key_id": link.actor_key_id,
        "actor_role": link.actor_role, "actor_label": link.actor_label, "action": action,
        "object_type": object_type, "object_id": link.object_id, "request_id": request_id, "galis_ref": galis_ref,
        "payload": clean, "payload_digest": link.payload_digest, "prev_hash": link.prev_hash, "hash": digest,
    })
    session.info[HEAD_KEY] = (link.seq, digest, True)
    return link.seq


@event.listens_for(Session, "before_commit")
def _write_head(session: Session) -> None:
    """The head moves once per transaction, with the last event appended."""
    if session.in_nested_transaction():
        return
    head = session.info.get(HEAD_KEY)
    if head is not None and head[2]:
        session.connection().execute(_MOVE_HEAD, {"seq": head[0], "hash": head[1]})
        session.info[HEAD_KEY] = (head[0], head[1], False)


@event.listens_for(Session, "after_transaction_end")
def _forget_head(session: Session, transaction: Any) -> None:
    """Once the transaction is over (committed or not), the head it saw is stale."""
    if transaction.parent is None:
        session.info.pop(HEAD_KEY, None)


def link_of(event: Any) -> audit.Link:
    """What a stored event's hash and leaf cover, from its row (ORM object or Core row)."""
    return audit.Link(seq=event.seq, occurred_at=event.occurred_at, actor_key_id=event.actor_key_id,
                      actor_role=event.actor_role, actor_label=event.actor_label, action=event.action,
                      object_type=event.object_type, object_id=event.object_id, galis_ref=event.galis_ref,
                      payload_digest=event.payload_digest, prev_hash=event.prev_hash)


def _stored(engine: Engine, upto: int, batch: int = 5_000) -> Iterator[audit.StoredEvent]:
    last = 0
    with Session(engine) as session:
        while True:
            rows = session.execute(sa.select(AuditEvent).where(AuditEvent.seq > last, AuditEvent.seq <= upto)
                                   .order_by(AuditEvent.seq).limit(batch)).scalars().all()
            session.expunge_all()
            if not rows:
                return
            for e in rows:
                yield audit.StoredEvent(link=link_of(e), payload=e.payload, hash=e.hash)
            last = rows[-1].seq


def verify(engine: Engine) -> tuple[int, audit.BrokenLink | None]:
    """Walk the chain from the database up to its head as read first (events appended during
    the walk are left for the next one); see ``service.domain.audit.verify_chain``."""
    with engine.connect() as conn:
        head = conn.execute(sa.select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1)).one()
    return audit.verify_chain(_stored(engine, int(head.seq)), head_seq=int(head.seq), head_hash=str(head.hash))
