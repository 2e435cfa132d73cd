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

from service.audit.trail import link_of
from service.domain import audit, merkle
from service.log.checkpoint import Checkpoint, CheckpointError, verify_note
from service.log.keys import LogKey
from service.log.tree import append, fold
from service.models import (
    AUDIT_EVENT_TABLE,
    LOG_CHECKPOINT_TABLE,
    LOG_NODE_TABLE,
    LOG_STATE_TABLE,
)

_EVENT = AUDIT_EVENT_TABLE
_NODE = LOG_NODE_TABLE
_STATE = LOG_STATE_TABLE
_CHECKPOINT = LOG_CHECKPOINT_TABLE
BATCH = 5_000


@dataclass(frozen=True)
class LogReport:
    size: int
    problem: str | None


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
                if audit.payload_digest(r.payload) != r.payload_digest:
                    raise _Broken(f"événement d'index {r.log_index} (n° {r.seq}) : le contenu ne correspond plus à "
                                  "son empreinte (contenu modifié)")
                yield int(r.log_index), merkle.leaf_hash(link_of(r).leaf()), bytes(r.stored) if r.stored else None
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
    wanted = {signed.size} | ({kept.size} if kept else set())
    found: dict[int, bytes] = {}  # the roots of those prefixes, recomputed as the leaves stream by
    frontier: list[tuple[int, int, bytes]] = []
    expected = 0
    try:
        for index, leaf_hash, stored in _sequenced(engine, size):
            if index != expected:
                return LogReport(size, f"index {expected} absent du journal (suivant trouvé : {index})")
            if stored != leaf_hash:
                return LogReport(size, f"événement d'index {index} : sa feuille ne correspond pas à ses champs "
                                       "(événement modifié)")
            append(frontier, index, leaf_hash)
            expected += 1
            if expected in wanted:
                found[expected] = fold([h for _, _, h in frontier])
    except _Broken as broken:
        return LogReport(size, str(broken))
    if expected != size:
        return LogReport(size, f"le journal compte {size} événements, {expected} seulement retrouvés (événements "
                               "retirés)")
    if signed.size and found.get(signed.size) != signed.root_hash:
        return LogReport(size, f"la racine recalculée des {signed.size} premiers événements n'est pas celle du "
                               "dernier point de contrôle signé")
    if kept is not None and kept.size and found.get(kept.size) != kept.root_hash:
        return LogReport(size, f"la racine recalculée des {kept.size} premiers événements n'est pas celle du "
                               "point de contrôle du témoin : l'historique a été réécrit depuis")
    return LogReport(size, None)
