"""The audit trail: one event per change, written in the change's own transaction.

Appending locks the chain's head row (``audit_head``), so the chain never forks, whatever the
number of writer threads and processes. On PostgreSQL the writer takes that lock first in
every transaction (``lock_head``), so that transactions always lock the head before any
other row and cannot deadlock on it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
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


def lock_head(conn: Connection) -> None:
    conn.execute(_READ_HEAD).one()


def record(conn: Connection | Session, actor: Principal, action: str, object_type: str, object_id: str, *,
           payload: Mapping[str, Any], request_id: int | None = None, galis_ref: str | None = None) -> int:
    """Append one event after the chain's head; return its number."""
    if isinstance(conn, Session):
        conn = conn.connection()
    head = conn.execute(_READ_HEAD).one()
    clean = dict(payload)
    link = audit.Link(
        seq=int(head.seq) + 1, occurred_at=utcnow(), actor_key_id=actor.key_id or None,
        actor_role=actor.role.value, actor_label=actor.label[:200], action=action, object_type=object_type,
        object_id=str(object_id), galis_ref=galis_ref, payload_digest=audit.payload_digest(clean),
        prev_hash=str(head.hash),
    )
    digest = link.hash()
    conn.execute(_INSERT, {
        "seq": link.seq, "occurred_at": link.occurred_at, "actor_key_id": link.actor_key_id,
        "actor_role": link.actor_role, "actor_label": link.actor_label, "action": action,
        "object_type": object_type, "object_id": link.object_id, "request_id": request_id, "galis_ref": galis_ref,
        "payload": clean, "payload_digest": link.payload_digest, "prev_hash": link.prev_hash, "hash": digest,
    })
    conn.execute(_MOVE_HEAD, {"seq": link.seq, "hash": digest})
    return link.seq


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
                yield audit.StoredEvent(link=audit.Link(
                    seq=e.seq, occurred_at=e.occurred_at, actor_key_id=e.actor_key_id, actor_role=e.actor_role,
                    actor_label=e.actor_label, action=e.action, object_type=e.object_type, object_id=e.object_id,
                    galis_ref=e.galis_ref, payload_digest=e.payload_digest, prev_hash=e.prev_hash,
                ), payload=e.payload, hash=e.hash)
            last = rows[-1].seq


def verify(engine: Engine) -> tuple[int, audit.BrokenLink | None]:
    """Walk the chain from the database up to its head as read first (events appended during
    the walk are left for the next one); see ``service.domain.audit.verify_chain``."""
    with engine.connect() as conn:
        head = conn.execute(sa.select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1)).one()
    return audit.verify_chain(_stored(engine, int(head.seq)), head_seq=int(head.seq), head_hash=str(head.hash))
