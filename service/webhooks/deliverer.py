"""The deliverer: sends the queued deliveries, records every attempt, retries on schedule.

One deliverer is active at a time across processes: it holds a lease (one row, renewed while it
works; taken over by another process once expired, so a deliverer killed with ``kill -9`` is
replaced at most a lease later). It runs as ``python -m service webhooks deliver``: started by
each application process as its child (``SERVICE_WEBHOOKS_DELIVERER=process``, the default,
see ``service.webhooks.supervisor``), or by the operator (``off``); or in a thread of the
application's process (``thread``).

Each attempt resolves the receiver's host again and connects to the address checked
(``service.webhooks.addresses``), never follows a redirect, waits at most
``SERVICE_WEBHOOKS_TIMEOUT_S`` for the connection and for each read and write, and reads at
most 64 KiB of the answer (its status is what counts). A 2xx delivers; a 410 disables the subscription (its
pending deliveries are cancelled); anything else, a timeout or a refused address is retried
after the next delay of ``SERVICE_WEBHOOKS_RETRY_SCHEDULE``, then given up (``failed``).
A delivery is sent at least once: an attempt whose outcome was not recorded (a crash) is made
again, with the same ``webhook-id``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from service.audit import trail as audit
from service.domain.access import Principal, Role, standing
from service.kit.db import DB_UNAVAILABLE, Database, is_conflict, short_reason
from service.kit.settings import Settings
from service.models import (
    API_KEY_TABLE,
    WEBHOOK_ATTEMPT_TABLE,
    WEBHOOK_DELIVERY_TABLE,
    WEBHOOK_LEASE_TABLE,
    WEBHOOK_SUBSCRIPTION_TABLE,
    utcnow,
)
from service.webhooks.addresses import TargetPolicy, TargetRefused, resolve
from service.webhooks.messages import signature
from service.webhooks.outbox import cancel_pending

log = logging.getLogger(__name__)

_SUB = WEBHOOK_SUBSCRIPTION_TABLE
_DELIVERY = WEBHOOK_DELIVERY_TABLE
_ATTEMPT = WEBHOOK_ATTEMPT_TABLE
_LEASE = WEBHOOK_LEASE_TABLE
_KEY = API_KEY_TABLE

#: Who changes a subscription when its receiver answers 410, in the audit trail.
DELIVERER = Principal(key_id=0, role=Role.ADMIN, label="service (envoi des webhooks)")
USER_AGENT = "esms-indicateurs-usage-webhooks/1.0"
#: How long the deliverer waits, once an attempt has finished, for others to record with it.
RECORD_WINDOW = 0.01
#: How often the active deliverer does its ``housekeeping``.
HOUSEKEEPING_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Due:
    id: str
    subscription_id: str
    url: str
    secret: str
    body: str


@dataclass(frozen=True, slots=True)
class AttemptResult:
    delivery_id: str
    subscription_id: str
    attempted_at: datetime
    duration_ms: int
    status_code: int | None
    error: str | None

    @property
    def delivered(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def _upsert_lease(dialect: str) -> sa.Insert:
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(_LEASE)
    return insert.on_conflict_do_nothing(index_elements=["id"])


def take_lease(session: Session, holder: str, *, seconds: float, now: datetime) -> bool:
    """Hold (or renew) the lease when it is free, expired or already ours."""
    conn = session.connection()
    conn.execute(_upsert_lease(conn.dialect.name).values(id=1, holder=holder, expires_at=now - timedelta(seconds=1)))
    taken = conn.execute(sa.update(_LEASE).where(_LEASE.c.id == 1, sa.or_(_LEASE.c.holder == holder,
                                                                          _LEASE.c.expires_at < now))
                         .values(holder=holder, expires_at=now + timedelta(seconds=seconds)))
    return taken.rowcount == 1


def release_lease(session: Session, holder: str) -> None:
    session.connection().execute(sa.update(_LEASE).where(_LEASE.c.id == 1, _LEASE.c.holder == holder)
                                 .values(expires_at=utcnow() - timedelta(seconds=1)))


def due_deliveries(conn: sa.Connection, now: datetime, *, limit: int, skip: Iterable[str] = ()) -> list[Due]:
    """Pending deliveries whose attempt is due, oldest due first, of active subscriptions (a revoked
    or expired key's subscriptions are disabled by ``housekeeping``)."""
    skipped = set(skip)
    rows = conn.execute(
        sa.select(_DELIVERY.c.id, _DELIVERY.c.subscription_id, _SUB.c.url, _SUB.c.secret, _DELIVERY.c.body)
        .join(_SUB, _SUB.c.id == _DELIVERY.c.subscription_id)
        .where(_DELIVERY.c.status == "pending", _DELIVERY.c.next_attempt_at <= now, _SUB.c.status == "active")
        .order_by(_DELIVERY.c.next_attempt_at, _DELIVERY.c.id).limit(limit + len(skipped))).all()
    return [Due(*row) for row in rows if row.id not in skipped][:limit]


def next_state(attempts: int, outcome: AttemptResult, schedule: tuple[int, ...]) -> dict[str, object]:
    """A delivery's columns after its ``attempts``-th attempt (counted with this one)."""
    if outcome.delivered:
        return {"status": "delivered", "delivered_at": outcome.attempted_at, "next_attempt_at": None}
    if outcome.status_code == 410:
        return {"status": "cancelled", "next_attempt_at": None}
    if attempts - 1 < len(schedule):
        return {"status": "pending",
                "next_attempt_at": outcome.attempted_at + timedelta(seconds=schedule[attempts - 1])}
    return {"status": "failed", "next_attempt_at": None}


def record(session: Session, outcomes: list[AttemptResult], schedule: tuple[int, ...]) -> None:
    """Keep each attempt and move its delivery on, in one transaction."""
    if not outcomes:
        return
    conn = session.connection()
    conn.execute(sa.insert(_ATTEMPT), [
        {"delivery_id": o.delivery_id, "attempted_at": o.attempted_at, "status_code": o.status_code,
         "duration_ms": o.duration_ms, "error": o.error} for o in outcomes])
    ids = [o.delivery_id for o in outcomes]
    current = {row.id: dict(row._mapping) for row in conn.execute(
        sa.select(_DELIVERY.c.id, _DELIVERY.c.attempts, _DELIVERY.c.status, _DELIVERY.c.next_attempt_at,
                  _DELIVERY.c.delivered_at).where(_DELIVERY.c.id.in_(ids)))}
    gone: dict[str, AttemptResult] = {}
    changes = []
    for outcome in outcomes:
        row = current[outcome.delivery_id]
        values: dict[str, object] = {k: row[k] for k in ("status", "next_attempt_at", "delivered_at")}
        if row["status"] == "pending":  # cancelled or delivered meanwhile: only the attempt is kept
            values.update(next_state(row["attempts"] + 1, outcome, schedule))
        row.update(values, attempts=row["attempts"] + 1)  # the same delivery may come twice in a batch
        changes.append({"b_id": outcome.delivery_id, "b_attempts": row["attempts"], "b_code": outcome.status_code,
                        **{f"b_{k}": v for k, v in values.items()}})
        if outcome.status_code == 410:
            gone[outcome.subscription_id] = outcome
    conn.execute(sa.update(_DELIVERY).where(_DELIVERY.c.id == sa.bindparam("b_id")).values(
        attempts=sa.bindparam("b_attempts"), last_status_code=sa.bindparam("b_code"),
        status=sa.bindparam("b_status"), next_attempt_at=sa.bindparam("b_next_attempt_at"),
        delivered_at=sa.bindparam("b_delivered_at")), changes)
    for sub_id, outcome in gone.items():
        disable(session, sub_id, f"le destinataire a répondu 410 (Gone) le {outcome.attempted_at:%d/%m/%Y à %H:%M} "
                                 "UTC", at=outcome.attempted_at)


def disable(session: Session, subscription_id: str, reason: str, *, at: datetime) -> bool:
    """Disable an active subscription and cancel what it still had to receive; audited."""
    conn = session.connection()
    changed = conn.execute(sa.update(_SUB).where(_SUB.c.id == subscription_id, _SUB.c.status == "active")
                           .values(status="disabled", disabled_at=at, disabled_reason=reason[:300])).rowcount
    if not changed:
        return False
    cancel_pending(conn, subscription_id)
    audit.record(session, DELIVERER, "webhook_disabled", "webhook_subscription", subscription_id,
                 payload={"reason": reason})
    return True


#: A job of the other capabilities run by the active deliverer's housekeeping, in its transaction:
#: it queues the events that time alone brings (``control.announce_overdue``: the proof requests
#: fallen due) and returns how many.
TimedEvents = Callable[[Session, datetime], int]


def _timed(session: Session, job: TimedEvents, now: datetime) -> int:
    """One job of ``timed_events`` in a savepoint of its own: one that fails (a defect, a row it
    cannot handle) is rolled back and logged, and holds neither the other jobs nor the rest of the
    housekeeping back; it is tried again at the next pass."""
    try:
        with session.begin_nested():
            return job(session, now)
    except DB_UNAVAILABLE:
        raise
    except Exception as exc:
        if is_conflict(exc):
            raise  # the whole transaction goes round again
        log.exception("timed job %s failed", getattr(job, "func", job))
        return 0


def housekeeping(session: Session, *, zone: str, timed_events: Sequence[TimedEvents] = ()) -> int:
    """What time alone changes: the events of ``timed_events`` queued (``proof_request.overdue``
    for the proof requests fallen due); the subscriptions of keys revoked or expired since
    disabled (nothing reaches them any more); deliveries queued for a subscription disabled
    meanwhile cancelled. The events queued."""
    now = utcnow()
    queued = sum(_timed(session, job, now) for job in timed_events)
    conn = session.connection()
    today = datetime.now(ZoneInfo(zone)).date()
    for row in conn.execute(sa.select(_SUB.c.id, _KEY.c.revoked_at, _KEY.c.expires_on)
                            .join(_KEY, _KEY.c.id == _SUB.c.key_id).where(_SUB.c.status == "active")).all():
        state = standing(row.revoked_at, row.expires_on, today)
        if state != "active":
            disable(session, row.id, "la clé d'API de l'abonnement est " + ("révoquée" if state == "revoked"
                                                                              else "expirée"), at=now)
    conn.execute(sa.update(_DELIVERY).where(
        _DELIVERY.c.status == "pending",
        _DELIVERY.c.subscription_id.in_(sa.select(_SUB.c.id).where(_SUB.c.status != "active")))
        .values(status="cancelled", next_attempt_at=None))
    return queued


#: Most bytes of an answer read (to keep its connection for the next delivery); beyond, it is dropped.
MAX_ANSWER_BYTES = 64 * 1024


def _drain(response: httpx.Response) -> None:
    """Read a small answer to its end, so that its connection is reused; a large one is cut."""
    read = 0
    for chunk in response.iter_raw():
        read += len(chunk)
        if read > MAX_ANSWER_BYTES:
            return  # leaving the stream closes the connection


class Deliverer:
    """Sends due deliveries from a pool of threads while it holds the lease.

    ``run_once`` makes one complete pass (what the tests and ``webhooks deliver --once`` call);
    ``start`` runs passes in a thread, each result recorded as soon as it is known.
    """

    def __init__(self, database: Database, settings: Settings, *, holder: str | None = None,
                 timed_events: Sequence[TimedEvents] = (), jobs: Sequence[Callable[[], int]] = ()) -> None:
        self.database = database
        self.timed_events = tuple(timed_events)
        #: Other outboxes sent by the active deliverer (the mails): each pass, one at a time, in
        #: the pool, so that a slow server never holds the webhooks back.
        self.jobs = tuple(jobs)
        self._jobs_running: Future[int] | None = None
        self.policy = TargetPolicy.from_settings(settings)
        self.schedule = settings.webhooks_retry_delays
        self.zone = settings.timezone
        self.lease_seconds = settings.webhooks_lease_s
        self.poll = settings.webhooks_poll_ms / 1000
        self.concurrency = settings.webhooks_concurrency
        self.holder = holder or f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.timeout = settings.webhooks_timeout_s
        self._client: httpx.Client | None = None  # made at the first attempt (its TLS set-up costs ~35 ms)
        self._client_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="webhook-attempt")
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="webhook-deliverer", daemon=True)
        self._lease_until = self._next_try = 0.0
        self._held = False
        self._last_housekeeping = float("-inf")

    # --- one attempt ----------------------------------------------------------------------

    @property
    def client(self) -> httpx.Client:
        with self._client_lock:
            if self._client is None:
                self._client = httpx.Client(timeout=httpx.Timeout(self.timeout), follow_redirects=False,
                                            trust_env=False, headers={"user-agent": USER_AGENT},
                                            limits=httpx.Limits(max_connections=self.concurrency * 2))
            return self._client

    def attempt(self, due: Due) -> AttemptResult:
        at = utcnow()
        started = time.monotonic()
        code: int | None = None
        error: str | None = None
        try:
            target = resolve(due.url, self.policy)
            timestamp = int(time.time())
            url = httpx.URL(target.url).copy_with(host=str(target.address))
            headers = {"host": httpx.URL(target.url).netloc.decode("ascii"), "content-type": "application/json",
                       "webhook-id": due.id, "webhook-timestamp": str(timestamp),
                       "webhook-signature": signature(due.secret, due.id, timestamp, due.body)}
            extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
            with self.client.stream("POST", url, content=due.body.encode("utf-8"), headers=headers,
                                     extensions=extensions) as response:
                code = response.status_code
                _drain(response)
            if not 200 <= code < 300:
                error = f"réponse {code}" + (" (redirection non suivie)" if 300 <= code < 400 else "")
        except TargetRefused as exc:
            error = exc.message
        except httpx.TimeoutException:
            error = "aucune réponse dans le délai imparti"
        except httpx.HTTPError as exc:
            error = f"connexion impossible ({type(exc).__name__}: {str(exc)[:200]})"
        duration = int((time.monotonic() - started) * 1000)
        return AttemptResult(due.id, due.subscription_id, at, duration, code, error[:500] if error else None)

    # --- the lease and the passes -----------------------------------------------------------

    def hold_lease(self, *, force: bool = False) -> bool:
        """True while this deliverer is the active one; renewed when half of it has passed. Another
        process's lease is tried again every quarter of a lease (2 s at most)."""
        now = time.monotonic()
        if now < self._lease_until - self.lease_seconds / 2:
            return True
        if not force and self._lease_until == 0.0 and now < self._next_try:
            return False
        taken = self.database.writer.run_sync(
            lambda session: take_lease(session, self.holder, seconds=self.lease_seconds, now=utcnow()))
        self._lease_until = now + self.lease_seconds if taken else 0.0
        self._held = self._held or taken
        self._next_try = now + min(self.lease_seconds / 4, 2.0)
        return taken

    def housekeeping(self, *, force: bool = False) -> int:
        now = time.monotonic()
        if not force and now - self._last_housekeeping < HOUSEKEEPING_SECONDS:
            return 0
        self._last_housekeeping = now
        return self.database.writer.run_sync(lambda session: housekeeping(session, zone=self.zone,
                                                                                 timed_events=self.timed_events))

    def due(self, limit: int, skip: Iterable[str] = ()) -> list[Due]:
        with self.database.engine.connect() as conn:
            return due_deliveries(conn, utcnow(), limit=limit, skip=skip)

    def record(self, outcomes: list[AttemptResult]) -> None:
        self.database.writer.run_sync(lambda session: record(session, outcomes, self.schedule))

    def run_jobs(self) -> int:
        """Each of ``jobs`` once (a failing one logged, the others run); what they did."""
        done = 0
        for job in self.jobs:
            try:
                done += job()
            except DB_UNAVAILABLE as exc:
                log.warning("deliverer job: database unavailable (%s)", short_reason(exc))
            except Exception:
                log.exception("deliverer job failed")
        return done

    def run_once(self) -> int:
        """Every delivery due now, sent and recorded, then the jobs run once; the number of webhook
        attempts (0 without the lease)."""
        if not self.hold_lease(force=True):
            return 0
        self.housekeeping(force=True)
        self.run_jobs()
        done = 0
        while batch := self.due(self.concurrency * 8, skip=()):
            outcomes = list(self._pool.map(self.attempt, batch))
            self.record(outcomes)
            done += len(outcomes)
            if not any(o.delivered for o in outcomes) and len(batch) < self.concurrency * 8:
                break  # what failed is scheduled later: nothing more is due now
        return done

    def start(self) -> Deliverer:
        self._thread.start()
        return self

    def _loop(self) -> None:
        in_flight: dict[str, Future[AttemptResult]] = {}
        while not self._stop.is_set():
            try:
                finished = [f for f in in_flight.values() if f.done()]
                if finished:
                    self.record([f.result() for f in finished])
                    for f in finished:
                        del in_flight[f.result().delivery_id]
                if self.hold_lease():
                    self.housekeeping()
                    if self.jobs and (self._jobs_running is None or self._jobs_running.done()):
                        self._jobs_running = self._pool.submit(self.run_jobs)
                    room = self.concurrency * 2 - len(in_flight)
                    for due in self.due(room, skip=in_flight) if room > 0 else ():
                        future = self._pool.submit(self.attempt, due)
                        future.add_done_callback(lambda _: self._wake.set())
                        in_flight[due.id] = future
            except DB_UNAVAILABLE as exc:
                log.warning("webhook deliverer: database unavailable (%s)", short_reason(exc))
                self._lease_until = 0.0
            except Exception:
                log.exception("webhook deliverer pass failed")
                self._lease_until = 0.0
            if self._wake.wait(self.poll) and not self._stop.is_set():
                time.sleep(RECORD_WINDOW)  # let the attempts finishing together be recorded together
            self._wake.clear()
        try:  # what was sent before the stop is recorded, not sent again
            self.record([f.result() for f in in_flight.values()])
        except Exception:
            log.exception("webhook deliverer: last attempts not recorded (they will be made again)")

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)
        self._pool.shutdown(wait=True, cancel_futures=True)
        try:
            if self._held:  # a deliverer that never delivered has no lease to give back
                self.database.writer.run_sync(lambda session: release_lease(session, self.holder))
        except Exception:  # the database may be gone at shutdown: the lease expires by itself
            log.warning("webhook deliverer: lease not released")
        if self._client is not None:
            self._client.close()
