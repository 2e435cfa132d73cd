"""Rate limits: how many requests a caller may make per class of route, counted with the generic
cell rate algorithm (GCRA) across the service's processes.

A limit of ``q`` requests per ``w`` seconds admits one request every ``w / q`` seconds on
average and a burst of up to ``q`` at once. Each bucket (a class and a caller) keeps one number,
its *theoretical arrival time* (TAT): a request at ``now`` moves it to ``max(TAT, now) + w / q``
and is admitted while that stays within ``w`` of ``now``. One number per bucket, updated in one
statement, is what lets every process share the count:

* ``MemoryCounter``: a dictionary, for one process (SQLite runs one worker);
* ``DatabaseCounter``: a PostgreSQL ``UNLOGGED`` table, one ``INSERT … ON CONFLICT … RETURNING``
  per batch of requests a process takes at once (``Limiter.take``), shared by every worker of
  every machine.

A refused bucket is remembered by the process until its next admission time, and refused again
without any I/O: a caller flooding the service costs a dictionary lookup per request, and its
excess never waits on what other callers wait on.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Engine

#: The classes of routes the service names (others may be configured and given to routes).
DEFAULT, EXPORTS, SIGN_IN = "default", "exports", "sign_in"
_UNITS = {"s": 1, "sec": 1, "second": 1, "min": 60, "minute": 60, "h": 3600, "hour": 3600, "d": 86400, "day": 86400}
_ITEM = re.compile(r"^\s*([a-z][a-z0-9_]{0,30})\s*=\s*(\d{1,7})\s*/\s*(\d{0,5})\s*([a-z]+)\s*$")
#: Buckets a process remembers as refused, at most (beyond: forgotten, and asked again).
MAX_REMEMBERED = 50_000


@dataclass(frozen=True)
class Rate:
    """``count`` requests per ``seconds``."""

    count: int
    seconds: int

    @property
    def interval(self) -> float:
        return self.seconds / self.count

    def __str__(self) -> str:
        return f"{self.count} requêtes par {self.seconds} s"


def parse_rate_limits(text: str) -> dict[str, Rate]:
    """``"default=600/min,exports=30/min,sign_in=20/min"`` (units s, min, h, day, with an optional
    multiple: ``100/5min``); ``"off"`` or nothing: no limit. ``ValueError`` says what is wrong."""
    if text.strip().lower() in ("", "off"):
        return {}
    rates: dict[str, Rate] = {}
    for item in text.split(","):
        match = _ITEM.match(item.lower())
        if match is None or match.group(4) not in _UNITS:
            raise ValueError(f"rate limit {item.strip()!r}: expected class=count/unit (unit: s, min, h, day)")
        name, count, multiple, unit = match.groups()
        seconds = int(multiple or 1) * _UNITS[unit]
        if int(count) < 1 or seconds < 1:
            raise ValueError(f"rate limit {item.strip()!r}: the count and the period must be positive")
        if name in rates:
            raise ValueError(f"rate limit class {name!r} given twice")
        rates[name] = Rate(int(count), seconds)
    return rates


@dataclass(frozen=True)
class Decision:
    """A request's fate under its bucket's rate: admitted or not, the requests left now, the
    seconds until the whole quota is back, and (refused) the seconds before the next admission."""

    admitted: bool
    remaining: int
    reset: int
    retry_after: int


def decision(admitted: bool, tat: float, now: float, rate: Rate) -> Decision:
    """The decision for a bucket whose TAT is ``tat`` after the request (or, refused, as it stands)."""
    ahead = max(0.0, tat - now)
    if admitted:
        return Decision(True, max(0, math.floor((rate.seconds - ahead) / rate.interval + 1e-9)),
                        math.ceil(ahead), 0)
    wait = max(1, math.ceil(ahead + rate.interval - rate.seconds))
    return Decision(False, 0, math.ceil(ahead), wait)


class Counter(Protocol):
    """Where the buckets' TATs live. ``take`` moves the bucket's TAT for one request if that keeps
    it within ``window`` of ``now``: ``(True, new TAT)``; else ``(False, TAT as it stands)``."""

    #: Whether ``take`` waits on I/O (then it is called from a worker thread).
    blocking: bool

    def take(self, bucket: str, now: float, interval: float, window: float) -> tuple[bool, float]: ...


class MemoryCounter:
    """The buckets of one process."""

    blocking = False

    def __init__(self) -> None:
        self._tats: dict[str, float] = {}
        self._lock = threading.Lock()

    def take(self, bucket: str, now: float, interval: float, window: float) -> tuple[bool, float]:
        with self._lock:
            current = self._tats.get(bucket, now)
            tat = max(current, now) + interval
            if tat - now > window:
                return False, current
            if len(self._tats) >= MAX_REMEMBERED:  # forget the buckets back to a full quota
                self._tats = {name: t for name, t in self._tats.items() if t > now}
            self._tats[bucket] = tat
            return True, tat


RATE_LIMIT_TABLE = "rate_limit_state"
_TABLE = sa.table(RATE_LIMIT_TABLE, sa.column("bucket", sa.String), sa.column("tat", sa.Float))
_TAKE = sa.text(f"""
    INSERT INTO {RATE_LIMIT_TABLE} AS b (bucket, tat) VALUES (:bucket, :now + :interval)
    ON CONFLICT (bucket) DO UPDATE SET tat = GREATEST(b.tat, :now) + :interval
    WHERE GREATEST(b.tat, :now) + :interval - :now <= :window
    RETURNING tat""")
#: Every this many seconds, a process deletes the buckets that are back to a full quota.
SWEEP_SECONDS = 300.0


class DatabaseCounter:
    """The buckets in PostgreSQL's ``rate_limit_state`` (``UNLOGGED``: not written to the WAL nor
    replicated, emptied by a crash, which only gives every caller its full quota back)."""

    blocking = True

    def __init__(self, engine: Engine) -> None:
        self.engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._next_sweep = 0.0

    def take(self, bucket: str, now: float, interval: float, window: float) -> tuple[bool, float]:
        with self.engine.connect() as conn:
            if now >= self._next_sweep:
                self._next_sweep = now + SWEEP_SECONDS
                conn.execute(sa.delete(_TABLE).where(_TABLE.c.tat < now))
            taken = conn.execute(_TAKE, {"bucket": bucket, "now": now, "interval": interval,
                                         "window": window}).scalar_one_or_none()
            if taken is not None:
                return True, float(taken)
            current = conn.execute(sa.select(_TABLE.c.tat).where(_TABLE.c.bucket == bucket)).scalar_one_or_none()
            return False, float(current if current is not None else now)


class Limiter:
    """The configured rates, their counter, and the buckets this process knows to be refused."""

    def __init__(self, rates: dict[str, Rate], counter: Counter, *, clock: Callable[[], float] = time.time) -> None:
        self.rates = rates
        self.counter = counter
        self.clock = clock
        self._refused: dict[str, tuple[float, float]] = {}  # bucket -> (next admission, TAT)
        self._credit: dict[str, tuple[int, float, float]] = {}  # bucket -> (requests held, until, TAT)
        self._lock = threading.Lock()

    @property
    def blocking(self) -> bool:
        return self.counter.blocking

    def rate_of(self, klass: str) -> tuple[str, Rate] | None:
        """The policy a class of routes is under: its own, else ``default``, else none."""
        for name in (klass, DEFAULT):
            if name in self.rates:
                return name, self.rates[name]
        return None

    def refused_now(self, klass: str, who: str) -> Decision | None:
        """The refusal of a bucket this process already knows to be over its rate (no I/O)."""
        found = self.rate_of(klass)
        if found is None:
            return None
        name, rate = found
        known = self._refused.get(f"{name}:{who}")
        now = self.clock()
        if known is None or now >= known[0]:
            return None
        return decision(False, known[1], now, rate)

    def take(self, klass: str, who: str) -> tuple[str, Rate, Decision] | None:
        """Count one request of ``who`` in ``klass``: the policy and the decision (``None``: no limit).

        With a shared counter, a process takes up to ``batch_of(rate)`` requests' worth at once
        and spends them from memory (for the rate's window at most): one statement per batch
        instead of one per request. The shared count is then ahead of the requests by what the
        processes hold unspent, so a caller may be refused a little early, never late."""
        found = self.rate_of(klass)
        if found is None:
            return None
        name, rate = found
        bucket = f"{name}:{who}"
        known = self.refused_now(klass, who)
        if known is not None:
            return name, rate, known
        now = self.clock()
        with self._lock:
            credit = self._credit.get(bucket)
            if credit is not None and credit[0] > 0 and now < credit[1]:
                left = credit[0] - 1
                self._credit[bucket] = (left, credit[1], credit[2])
                return name, rate, decision(True, credit[2] - left * rate.interval, now, rate)
        batch = batch_of(rate) if self.counter.blocking else 1
        admitted, tat = self.counter.take(bucket, now, rate.interval * batch, rate.seconds)
        if not admitted and batch > 1:  # not room for a batch: perhaps for this one request
            batch = 1
            admitted, tat = self.counter.take(bucket, now, rate.interval, rate.seconds)
        if admitted:
            with self._lock:
                if batch > 1:
                    if len(self._credit) >= MAX_REMEMBERED:
                        self._credit = {b: c for b, c in self._credit.items() if c[1] > now}
                    self._credit[bucket] = (batch - 1, now + rate.seconds, tat)
            return name, rate, decision(True, tat - (batch - 1) * rate.interval, now, rate)
        result = decision(False, tat, now, rate)
        if len(self._refused) >= MAX_REMEMBERED:
            self._refused = {b: v for b, v in self._refused.items() if v[0] > now}
        self._refused[bucket] = (tat + rate.interval - rate.seconds, tat)
        return name, rate, result


def batch_of(rate: Rate) -> int:
    """Requests' worth a process takes at once from a shared counter: a twentieth of the quota,
    ten at most (600/min: one statement per ten requests; 30/min: one per request)."""
    return max(1, min(10, rate.count // 20))


def limiter_for(rates: dict[str, Rate], engine: Engine) -> Limiter | None:
    """The service's limiter: counted in PostgreSQL, shared by every worker; in memory on SQLite
    (one worker); none without any rate."""
    if not rates:
        return None
    return Limiter(rates, DatabaseCounter(engine) if engine.dialect.name == "postgresql" else MemoryCounter())
