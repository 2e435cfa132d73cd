"""The sequencer: gives each committed audit event its index in the log, in batches, and signs a
checkpoint of the tree it has grown.

Writers only append events (``log_index`` null); they never touch the log's state. One
sequencer works at a time across every process: on PostgreSQL it holds a transaction-level
advisory lock (another process's sequencer skips its turn), on SQLite the database's single
writer serialises it. A batch is one transaction — indexes, tree nodes, the signed checkpoint
and the log's size together — so a process killed at any moment leaves no gap and no fork: the
events it had not committed are sequenced by the next batch. Events are taken in their order
of commit as the sequencer sees them (committed, unsequenced, by number): the sequencer's order
is the log's order.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

import sqlalchemy as sa
from sqlmodel import Session

from service.audit.trail import link_of
from service.domain import merkle
from service.kit.db import DB_UNAVAILABLE, Database, is_database_full, short_reason
from service.log.checkpoint import Checkpoint, sign_checkpoint
from service.log.keys import LogSigner
from service.log.timestamps import TimestampError, request_reply
from service.log.tree import TreeStore, append, blocks, fold
from service.models import (
    AUDIT_EVENT_TABLE,
    LOG_CHECKPOINT_TABLE,
    LOG_STATE_TABLE,
    utcnow,
)

log = logging.getLogger(__name__)

_EVENT = AUDIT_EVENT_TABLE
_STATE = LOG_STATE_TABLE
_CHECKPOINT = LOG_CHECKPOINT_TABLE
#: PostgreSQL advisory lock key of the sequencer ("log" in ASCII).
ADVISORY_LOCK = 0x6C6F67
#: Most events given an index in one transaction.
BATCH = 5_000


@dataclass(frozen=True)
class Sequenced:
    size: int
    root_hash: bytes
    count: int


def sequence_batch(session: Session, signer: LogSigner, *, origin: str, limit: int = BATCH) -> Sequenced | None:
    """Sequence up to ``limit`` committed events and sign the new checkpoint, in the session's
    transaction; ``None`` when another sequencer holds the lock or there is nothing to do
    (the empty tree's checkpoint is signed once)."""
    conn = session.connection()
    if conn.dialect.name == "postgresql" and not conn.execute(
            sa.text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK}).scalar_one():
        return None
    size = int(conn.execute(sa.select(_STATE.c.size).where(_STATE.c.id == 1)).scalar_one())
    rows = conn.execute(sa.select(_EVENT).where(_EVENT.c.log_index.is_(None)).order_by(_EVENT.c.seq)
                        .limit(limit)).all()
    if not rows:
        if size == 0 and conn.execute(sa.select(sa.func.count()).select_from(_CHECKPOINT)).scalar_one() == 0:
            _sign(conn, signer, origin, 0, merkle.EMPTY_ROOT)
        return None
    store = TreeStore(conn)
    edge = blocks(0, size)
    known = store.nodes(edge)
    frontier = [(level, idx, known[(level, idx)]) for level, idx in edge]
    new_nodes: list[tuple[int, int, bytes]] = []
    indexes = []
    for offset, row in enumerate(rows):
        append(frontier, size + offset, merkle.leaf_hash(link_of(row).leaf()), new_nodes)
        indexes.append({"s": row.seq, "i": size + offset})
    conn.execute(sa.update(_EVENT).where(_EVENT.c.seq == sa.bindparam("s")).values(log_index=sa.bindparam("i")),
                 indexes)
    store.insert(new_nodes)
    new_size = size + len(rows)
    root_hash = fold([h for _, _, h in frontier])
    conn.execute(sa.update(_STATE).where(_STATE.c.id == 1).values(size=new_size))
    _sign(conn, signer, origin, new_size, root_hash)
    return Sequenced(new_size, root_hash, len(rows))


def _sign(conn: sa.Connection, signer: LogSigner, origin: str, size: int, root_hash: bytes) -> None:
    note = sign_checkpoint(Checkpoint(origin, size, root_hash), signer)
    conn.execute(sa.insert(_CHECKPOINT).values(size=size, root_hash=root_hash, note=note,
                                               key_id=signer.key.key_id.hex(), signed_at=utcnow()))


class Sequencer:
    """A thread of the process that runs a batch through the writer so that a committed event
    has its index at most ``interval`` seconds after its commit, and has the latest checkpoint
    time-stamped at most every ``tsa_interval`` seconds.

    A batch starts every half interval: an event waits at most that half for the next batch, and
    the other half leaves room for the batch itself and for the writer's queue.
    """

    def __init__(self, database: Database, signer: LogSigner, *, origin: str, interval: float,
                 tsa_url: str | None = None, tsa_interval: float = 3600.0) -> None:
        self.database, self.signer, self.origin, self.interval = database, signer, origin, interval
        self.tsa_url, self.tsa_interval = tsa_url, tsa_interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="log-sequencer", daemon=True)

    def start(self) -> Sequencer:
        self._thread.start()
        return self

    def run_once(self) -> Sequenced | None:
        """One batch, committed when this returns (also what tests and the command line call)."""
        return self.database.writer.run_sync(
            lambda session: sequence_batch(session, self.signer, origin=self.origin))

    def timestamp_once(self) -> int | None:
        """Have the latest checkpoint time-stamped when the last one is older than the interval;
        the size time-stamped, if any. The authority is called outside any transaction."""
        if not self.tsa_url:
            return None
        with self.database.engine.connect() as conn:
            latest = conn.execute(sa.select(_CHECKPOINT.c.size, _CHECKPOINT.c.note, _CHECKPOINT.c.timestamp_reply)
                                  .order_by(_CHECKPOINT.c.size.desc()).limit(1)).one_or_none()
            last_at = conn.execute(sa.select(sa.func.max(_CHECKPOINT.c.timestamped_at))).scalar_one_or_none()
        if latest is None or latest.timestamp_reply is not None:
            return None
        if last_at is not None and (utcnow() - last_at).total_seconds() < self.tsa_interval:
            return None
        try:
            reply = request_reply(self.tsa_url, str(latest.note).encode())
        except TimestampError as exc:
            log.warning("log checkpoint %s not time-stamped: %s", latest.size, exc)
            return None
        size = int(latest.size)
        self.database.writer.run_sync(lambda session: session.connection().execute(
            sa.update(_CHECKPOINT).where(_CHECKPOINT.c.size == size)
            .values(timestamp_reply=reply, timestamped_at=utcnow())))
        return size

    def _loop(self) -> None:
        while not self._stop.wait(self.interval / 2):
            try:
                while (done := self.run_once()) is not None and done.count == BATCH:
                    pass  # a backlog: the next batch at once
                self.timestamp_once()
            except DB_UNAVAILABLE as exc:  # it goes on at the next interval: the backlog first
                state = "database full" if is_database_full(exc) else "database unavailable"
                log.warning("log sequencer: %s (%s)", state, short_reason(exc))
            except Exception:
                log.exception("log sequencer batch failed")

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
