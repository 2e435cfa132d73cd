"""Engines, read sessions and the per-process writer.

Reads run in FastAPI's thread pool, each request with its own session. Writes go through
one ``Writer`` per process: a small number of threads, each holding one connection, that
take the waiting units of work together and commit them in one transaction (group commit);
a unit that fails is rolled back alone. This is what keeps the tail latency low: SQLite allows one
writer at a time, so many threads each committing alone spend their time waiting on the
file lock, and every commit pays its own fsync. A unit of work is durable (committed) before
its caller is answered.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session

from service.kit.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")


def is_sqlite(url: str | sa.URL) -> bool:
    return sa.make_url(url).get_backend_name() == "sqlite"


#: What the driver raises while the database server is unreachable, restarting or refusing
#: connections (and the pool when no connection can be had): an outage, answered 503.
DB_UNAVAILABLE = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.DisconnectionError, sa.exc.TimeoutError)


#: SQLSTATEs of a transaction the server aborted to let another one through (deadlock,
#: serialization failure): run again, it succeeds.
_CONFLICTS = {"40P01", "40001"}
#: How many times a unit aborted by such a conflict is run again before its caller is told.
CONFLICT_RETRIES = 5


def is_conflict(exc: BaseException) -> bool:
    return getattr(getattr(exc, "orig", None), "sqlstate", None) in _CONFLICTS


#: PostgreSQL's SQLSTATE for a full disk; SQLite's result code for a full database or disk.
_DISK_FULL_SQLSTATE = "53100"
_SQLITE_FULL = 13
#: How long after a write refused for want of room the database is said full (``/readyz``):
#: past it, the next write tries again and says it anew if the room has not come back.
FULL_HOLD_SECONDS = 30.0


def is_database_full(exc: BaseException) -> bool:
    """Whether ``exc`` is the database refusing a write for want of room."""
    origin = getattr(exc, "orig", None) or exc
    return (getattr(origin, "sqlstate", None) == _DISK_FULL_SQLSTATE
            or getattr(origin, "sqlite_errorcode", None) == _SQLITE_FULL)


def short_reason(exc: BaseException) -> str:
    """The first line of the driver's message, without SQLAlchemy's statement and link."""
    origin = getattr(exc, "orig", None) or exc
    return (str(origin).strip().splitlines() or [type(origin).__name__])[0][:200]


#: Declarations of this many rows or more are written to PostgreSQL with ``COPY``.
COPY_MIN_ROWS = 200


def insert_many(conn: sa.Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """Insert ``rows`` (dicts with the same keys) in the current transaction, in bulk.

    SQLAlchemy's per-row parameter processing costs more than the insert itself on a large
    declaration (``bench/bulk_import.py``): on SQLite the rows go to the driver's
    ``executemany`` directly, on PostgreSQL large batches use ``COPY``. Column names come from
    the caller's code, never from input.
    """
    if not rows:
        return
    columns = list(rows[0])
    names = ", ".join(columns)
    if conn.dialect.name == "sqlite":
        sql = f"INSERT INTO {table.name} ({names}) VALUES ({', '.join('?' * len(columns))})"
        conn.exec_driver_sql(sql, [tuple(_sqlite_value(row[c]) for c in columns) for row in rows])
    elif conn.dialect.name == "postgresql" and len(rows) >= COPY_MIN_ROWS:
        with conn.connection.driver_connection.cursor() as cursor:  # type: ignore[union-attr]
            with cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row([row[c] for c in columns])
    else:
        conn.execute(sa.insert(table), rows)


def _sqlite_value(value: Any) -> Any:
    """Dates as SQLAlchemy stores them on SQLite (ISO text); the rest as the driver takes it."""
    return value.isoformat() if isinstance(value, date) else value


def create_db_engine(url: str, *, pool_size: int, write: bool = False) -> Engine:
    """An engine for ``url``; on SQLite, WAL, full durability and a busy timeout."""
    if not is_sqlite(url):
        return sa.create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)

    database = sa.make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(url, connect_args={"check_same_thread": False}, pool_size=pool_size,
                              max_overflow=0 if write else pool_size)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide where transactions begin, so that
        # savepoints work and writers take the lock at BEGIN (no deadlock on lock upgrade).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


@dataclass
class _Work:
    fn: Callable[[Session], Any]
    loop: asyncio.AbstractEventLoop | None
    future: asyncio.Future[Any] | None
    done: threading.Event | None = None
    result: Any = None
    error: BaseException | None = None


class Writer:
    """Runs units of work ``fn(session)`` on dedicated threads and commits them in groups.

    A unit raising an exception is rolled back alone (its savepoint) and the exception is
    handed to its caller; the others of the group are committed.
    """

    def __init__(self, engine: Engine, *, threads: int, batch_size: int) -> None:
        self._engine = engine
        #: When (``time.monotonic``) a write was last refused for want of room; ``None`` once one
        #: is committed again.
        self.full_at: float | None = None
        self._batch_size = batch_size
        self._queue: queue.SimpleQueue[_Work | None] = queue.SimpleQueue()
        self._threads = [
            threading.Thread(target=self._loop, name=f"db-writer-{i}", daemon=True) for i in range(threads)
        ]
        for thread in self._threads:
            thread.start()

    async def run(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn`` in a write transaction; return once it is committed."""
        loop = asyncio.get_running_loop()
        work = _Work(fn=fn, loop=loop, future=loop.create_future())
        self._queue.put(work)
        assert work.future is not None
        return await work.future

    def run_sync(self, fn: Callable[[Session], T]) -> T:
        """The same, for callers outside an event loop (command line, tests)."""
        work = _Work(fn=fn, loop=None, future=None, done=threading.Event())
        self._queue.put(work)
        assert work.done is not None
        work.done.wait()
        if work.error is not None:
            raise work.error
        return work.result

    def submit(self, fn: Callable[[Session], Any]) -> None:
        """Queue ``fn`` and return at once, for a write nobody waits for (a key's last use)."""
        self._queue.put(_Work(fn=fn, loop=None, future=None, done=threading.Event()))

    def close(self) -> None:
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout=10)

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self._batch_size:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:  # closing: finish this batch, then stop
                    self._queue.put(None)
                    break
                batch.append(item)
            self._commit_group(batch)

    def _commit_group(self, batch: list[_Work], attempt: int = 0) -> None:
        try:
            # Optimistic first: one transaction, no savepoints. A unit that fails sends the
            # group round again, each unit in its own savepoint; a lone unit needs none.
            if not self._run_transaction(batch, isolated=False) and len(batch) > 1:
                self._run_transaction(batch, isolated=True)
            self.full_at = None
        except Exception as exc:  # the commit itself failed, or a conflict: nothing of the group is stored
            if len(batch) > 1:
                # Groups lock the rows of their units in no particular order, so two groups can
                # deadlock on PostgreSQL; one by one, a unit takes its rows in its own order.
                log.warning("group commit of %d units failed (%s); retrying one by one", len(batch), short_reason(exc))
                for work in batch:
                    self._commit_group([work])
                return
            if is_conflict(exc) and attempt < CONFLICT_RETRIES:
                log.info("write transaction aborted by a conflict (%s); running it again", short_reason(exc))
                time.sleep(random.uniform(0, 0.005 * 2 ** attempt))
                self._commit_group(batch, attempt + 1)
                return
            if is_database_full(exc):
                # No room left: the caller answers 507; the reason in one line.
                self.full_at = time.monotonic()
                log.warning("write transaction failed, database full: %s", short_reason(exc))
            elif isinstance(exc, DB_UNAVAILABLE):
                # The database is unreachable: the caller answers 503; the reason in one line.
                log.warning("write transaction failed, database unavailable: %s", short_reason(exc))
            else:
                log.exception("write transaction failed")
            batch[0].result, batch[0].error = None, exc
        for work in batch:
            self._deliver(work)

    def _run_transaction(self, batch: list[_Work], *, isolated: bool) -> bool:
        """Run ``batch`` in one transaction; commit unless a unit failed while not ``isolated``.

        Returns whether the transaction was committed.
        """
        with Session(self._engine, expire_on_commit=False) as session:
            transaction = session.begin()
            for work in batch:
                work.result, work.error = None, None
                try:
                    if isolated:
                        with session.begin_nested():
                            work.result = work.fn(session)
                            session.flush()
                    else:
                        work.result = work.fn(session)
                        session.flush()
                except Exception as exc:
                    if is_conflict(exc):
                        raise  # the server aborted the transaction: the whole of it goes round again
                    work.error = exc
                    if not isolated:
                        transaction.rollback()
                        return False
            transaction.commit()
            return True

    @staticmethod
    def _deliver(work: _Work) -> None:
        if work.done is not None:
            work.done.set()
            return
        assert work.loop is not None and work.future is not None
        future = work.future

        def settle() -> None:
            if future.cancelled():
                return
            if work.error is not None:
                future.set_exception(work.error)
            else:
                future.set_result(work.result)

        try:
            work.loop.call_soon_threadsafe(settle)
        except RuntimeError:  # the loop is gone (shutdown): nobody waits any more
            pass


class Database:
    """The engines and the writer of one process."""

    def __init__(self, settings: Settings) -> None:
        url = settings.database_url
        sqlite = is_sqlite(url)
        self.url = url
        self.engine = create_db_engine(url, pool_size=settings.db_pool_size)
        threads = settings.writer_threads or (1 if sqlite else 2)
        self.write_engine = create_db_engine(url, pool_size=threads, write=True)
        self.writer = Writer(self.write_engine, threads=threads, batch_size=settings.writer_batch_size)

    def read_session(self) -> Iterator[Session]:
        with Session(self.engine) as session:
            yield session

    def full_for(self) -> float | None:
        """Seconds since a write was refused for want of room, within ``FULL_HOLD_SECONDS``; else ``None``."""
        full_at = self.writer.full_at
        if full_at is None or time.monotonic() - full_at > FULL_HOLD_SECONDS:
            return None
        return time.monotonic() - full_at

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
            return True
        except sa.exc.SQLAlchemyError:
            return False

    def close(self) -> None:
        self.writer.close()
        self.engine.dispose()
        self.write_engine.dispose()
