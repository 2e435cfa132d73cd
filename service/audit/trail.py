"""The audit trail: one event per change, written in the change's own transaction.

Appending an event locks no row shared by all writers: its number comes from a database
sequence on PostgreSQL (numbers are handed out before the commit and may have gaps; the log's
sequencer, not the number, decides the order of the log) and, on SQLite, whose writers are
serialised by the database, from the highest number so far. Its ``hash`` covers its own fields.
Events written before the verifiable log form a hash chain whose end is recorded once in
``audit_head``; ``verify`` walks that chain, then every event after it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlmodel import Session

from service.domain import audit
from service.domain.access import Principal, Role
from service.models import AUDIT_EVENT_TABLE, AUDIT_HEAD_TABLE, utcnow

_EVENT = AUDIT_EVENT_TABLE
_HEAD = AUDIT_HEAD_TABLE
_INSERT = sa.insert(_EVENT)
#: The PostgreSQL sequence of event numbers (created by the migration that ended the chain).
SEQUENCE = "audit_event_seq"
_NEXT_PG = sa.select(sa.func.nextval(SEQUENCE))
_NEXT_SQLITE = sa.select(sa.func.coalesce(sa.func.max(_EVENT.c.seq), 0) + 1)

#: The actor of changes made from the command line, not through an API key.
OPERATOR = Principal(key_id=0, role=Role.ADMIN, label="ligne de commande")


def record(session: Session, actor: Principal, action: str, object_type: str, object_id: str, *,
           payload: Mapping[str, Any], request_id: int | None = None, galis_ref: str | None = None) -> int:
    """Append one event; return its number."""
    conn = session.connection()
    seq = int(conn.execute(_NEXT_PG if conn.dialect.name == "postgresql" else _NEXT_SQLITE).scalar_one())
    clean = dict(payload)
    link = audit.Link(
        seq=seq, occurred_at=utcnow(), actor_key_id=actor.key_id or None,
        actor_role=actor.role.value, actor_label=actor.label[:200], actor_person_id=actor.person_id,
        actor_organisation_id=actor.organisation_id, action=action, object_type=object_type,
        object_id=str(object_id), galis_ref=galis_ref, payload_digest=audit.payload_digest(clean), prev_hash=None,
    )
    conn.execute(_INSERT, {
        "seq": link.seq, "occurred_at": link.occurred_at, "actor_key_id": link.actor_key_id,
        "actor_role": link.actor_role, "actor_label": link.actor_label, "action": action,
        "actor_person_id": link.actor_person_id, "actor_organisation_id": link.actor_organisation_id,
        "object_type": object_type, "object_id": link.object_id, "request_id": request_id, "galis_ref": galis_ref,
        "payload": clean, "payload_digest": link.payload_digest, "prev_hash": None, "hash": link.hash(),
    })
    return link.seq


def link_of(event: Any) -> audit.Link:
    """What a stored event's hash and leaf cover, from its row (ORM object or Core row)."""
    return audit.Link(seq=event.seq, occurred_at=event.occurred_at, actor_key_id=event.actor_key_id,
                      actor_role=event.actor_role, actor_label=event.actor_label,
                      actor_person_id=event.actor_person_id, actor_organisation_id=event.actor_organisation_id,
                      action=event.action,
                      object_type=event.object_type, object_id=event.object_id, galis_ref=event.galis_ref,
                      payload_digest=event.payload_digest, prev_hash=event.prev_hash)


def _stored(engine: Engine, batch: int = 5_000) -> Iterator[audit.StoredEvent]:
    """Every stored event in number order, a batch at a time (plain rows, not ORM objects)."""
    last = 0
    with engine.connect() as conn:
        while True:
            rows = conn.execute(sa.select(_EVENT).where(_EVENT.c.seq > last).order_by(_EVENT.c.seq)
                                .limit(batch)).all()
            if not rows:
                return
            for row in rows:
                yield audit.StoredEvent(link=link_of(row), payload=row.payload, hash=row.hash)
            last = rows[-1].seq


def verify(engine: Engine) -> tuple[int, audit.BrokenLink | None]:
    """Walk the chain up to its recorded end, then every event after it; see
    ``service.domain.audit.verify_events``."""
    with engine.connect() as conn:
        end = conn.execute(sa.select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == 1)).one()
    return audit.verify_events(_stored(engine), chain_end_seq=int(end.seq), chain_end_hash=str(end.hash))
