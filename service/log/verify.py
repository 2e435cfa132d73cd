"""``audit verify`` for the log: every sequenced event against the tree, the latest checkpoint's
root and signature, and — given a checkpoint kept by a witness — that today's log extends it.

The tree is recomputed from the events themselves (their fields, not the stored hashes), in one
pass with memory bounded by the tree's height: whoever rewrites an event, recomputes every
stored hash and signs a fresh checkpoint still cannot match the root a witness kept.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from service.domain import audit, merkle
from service.log.checkpoint import Checkpoint, CheckpointError, verify_note
from service.log.keys import LogKey
from service.models import AuditEvent, LogCheckpoint, LogNode, LogState

_EVENT = AuditEvent.__table__  # type: ignore[attr-defined]
_NODE = LogNode.__table__  # type: ignore[attr-defined]
_STATE = LogState.__table__  # type: ignore[attr-defined]
_CHECKPOINT = LogCheckpoint.__table__  # type: ignore[attr-defined]
BATCH = 5_000


@dataclass(frozen=True)
class LogReport:
    size: int
    problem: str | None


class _Roots:
    """MTH of every prefix asked for, computed as the leaves stream by (a stack of perfect subtrees)."""

    def __init__(self, wanted: set[int]) -> None:
        self.stack: list[tuple[int, bytes]] = []
        self.count = 0
        self.wanted = wanted
        self.found: dict[int, bytes] = {}

    def add(self, leaf_hash: bytes) -> None:
        size, current = 1, leaf_hash
        while self.stack and self.stack[-1][0] == size:
            left_size, left = self.stack.pop()
            size, current = left_size + size, merkle.node_hash(left, current)
        self.stack.append((size, current))
        self.count += 1
        if self.count in self.wanted:
            result = self.stack[-1][1]
            for _, left in reversed(self.stack[:-1]):
                result = merkle.node_hash(left, result)
            self.found[self.count] = result


def _sequenced(engine: Engine, size: int) -> Iterator[tuple[int, bytes, bytes | None]]:
    """(index, leaf hash recomputed from the event, stored leaf hash) for indexes below ``size``."""
    last = -1
    with engine.connect() as conn:
        while True:
            rows = conn.execute(
                sa.select(_EVENT, _NODE.c.hash.label("stored"))
                .outerjoin(_NODE, sa.and_(_NODE.c.level == 0, _NODE.c.idx == _EVENT.c.log_index))
                .where(_EVENT.c.log_index > last, _EVENT.c.log_index < size)
                .order_by(_EVENT.c.log_index).limit(BATCH)).all()
            if not rows:
                return
            for r in rows:
                link = audit.Link(seq=r.seq, occurred_at=r.occurred_at, actor_key_id=r.actor_key_id,
                                  actor_role=r.actor_role, actor_label=r.actor_label, action=r.action,
                                  object_type=r.object_type, object_id=r.object_id, galis_ref=r.galis_ref,
                                  payload_digest=r.payload_digest, prev_hash=r.prev_hash)
                if audit.payload_digest(r.payload) != r.payload_digest:
                    raise _Broken(f"événement d'index {r.log_index} (n° {r.seq}) : le contenu ne correspond plus à "
                                  "son empreinte (contenu modifié)")
                yield int(r.log_index), merkle.leaf_hash(link.leaf()), bytes(r.stored) if r.stored else None
            last = int(rows[-1].log_index)


class _Broken(Exception):
    pass


def verify_log(engine: Engine, keys: Sequence[LogKey], *, origin: str, witness: str | None = None) -> LogReport:
    """Check the log as described in the module docstring; the first problem, in French."""
    with engine.connect() as conn:
        size = int(conn.execute(sa.select(_STATE.c.size).where(_STATE.c.id == 1)).scalar_one())
        latest = conn.execute(sa.select(_CHECKPOINT).order_by(_CHECKPOINT.c.size.desc()).limit(1)).one_or_none()
    kept: Checkpoint | None = None
    if witness is not None:
        try:
            kept = verify_note(witness, keys, origin=origin)
        except CheckpointError as exc:
            return LogReport(size, f"point de contrôle du témoin refusé : {exc}")
        if kept.size > size:
            return LogReport(size, f"le témoin a vu un journal de {kept.size} événements ; il n'en compte plus que "
                                   f"{size} (historique tronqué)")
    if latest is None:
        return LogReport(size, None if size == 0 and kept is None else "aucun point de contrôle signé")
    try:
        signed = verify_note(str(latest.note), keys, origin=origin)
    except CheckpointError as exc:
        return LogReport(size, f"dernier point de contrôle refusé : {exc}")
    if signed.size != int(latest.size) or signed.root_hash != bytes(latest.root_hash) or signed.size > size:
        return LogReport(size, "le dernier point de contrôle ne correspond pas à l'état enregistré du journal")
    roots = _Roots({signed.size} | ({kept.size} if kept else set()))
    expected = 0
    try:
        for index, leaf_hash, stored in _sequenced(engine, size):
            if index != expected:
                return LogReport(size, f"index {expected} absent du journal (suivant trouvé : {index})")
            if stored != leaf_hash:
                return LogReport(size, f"événement d'index {index} : sa feuille ne correspond pas à ses champs "
                                       "(événement modifié)")
            roots.add(leaf_hash)
            expected += 1
    except _Broken as broken:
        return LogReport(size, str(broken))
    if expected != size:
        return LogReport(size, f"le journal compte {size} événements, {expected} seulement retrouvés (événements "
                               "retirés)")
    if signed.size and roots.found.get(signed.size) != signed.root_hash:
        return LogReport(size, f"la racine recalculée des {signed.size} premiers événements n'est pas celle du "
                               "dernier point de contrôle signé")
    if kept is not None and kept.size and roots.found.get(kept.size) != kept.root_hash:
        return LogReport(size, f"la racine recalculée des {kept.size} premiers événements n'est pas celle du "
                               "point de contrôle du témoin : l'historique a été réécrit depuis")
    return LogReport(size, None)
