"""Rate limits over HTTP: each request counted in its class for its caller (a key, a person, or
an address for sign-in), refused beyond the class's rate with 429 ``rate_limited``.

Every answer of a counted request says where its caller stands (draft-ietf-httpapi-ratelimit-
headers-11): ``RateLimit-Policy: "exports";q=30;w=60`` and ``RateLimit: "exports";r=12;t=40``
(requests left, seconds until the whole quota is back); a refusal adds ``Retry-After``. The
headers are left in the request's scope and put on the answer by ``RequestIds``, so that an
error raised later in the request still carries them.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from service.domain.access import Principal
from service.http.problems import HttpProblem
from service.kit.rate_limits import EXPORTS, SIGN_IN, Decision, Limiter, Rate

#: The console's session cookie (``service.console.sessions.COOKIE``), told apart by ``FairShare``.
CONSOLE_SESSION_COOKIE = "esms_console"
#: The scope key holding the rate-limit headers of the answer.
SCOPE_KEY = "esms.rate_limit_headers"
#: The scope key holding the caller's share of the process (``FairShare``), for ``hold_costly``.
_SHARE_KEY = "esms.fair_share"


def caller_of(principal: Principal) -> str:
    """The bucket's caller: the person signed in, else the key."""
    return f"person:{principal.person_id}" if principal.person_id else f"key:{principal.key_id}"


def address_of(request: Request) -> str:
    """The client's address (behind a reverse proxy: as uvicorn's ``--forwarded-allow-ips`` lets
    it read ``X-Forwarded-For``)."""
    return f"address:{request.client.host if request.client else 'inconnue'}"


def rate_class(name: str) -> Any:
    """A route dependency naming the route's class of rate limits (``default`` without it):
    ``dependencies=[rate_class(EXPORTS)]``; ``GuardedRoute`` counts the request before its body."""

    async def counted() -> None:
        return None

    counted.rate_class = name  # type: ignore[attr-defined]
    return Depends(counted)


def _limiter(request: Request) -> Limiter | None:
    return getattr(request.app.state, "limiter", None)


def _headers(name: str, rate: Rate, decided: Decision) -> dict[str, str]:
    headers = {"RateLimit-Policy": f'"{name}";q={rate.count};w={rate.seconds}',
               "RateLimit": f'"{name}";r={decided.remaining};t={decided.reset}'}
    if not decided.admitted:
        headers["Retry-After"] = str(decided.retry_after)
    return headers


def _refusal(name: str, rate: Rate, decided: Decision, headers: dict[str, str]) -> HttpProblem:
    return HttpProblem(429, "rate_limited", "Trop de requêtes",
                       f"Limite atteinte pour les requêtes de la classe « {name} » ({rate}) : rien n'a été fait. "
                       f"Réessayez dans {decided.retry_after} s.", headers=headers)


async def enforce(request: Request, klass: str, who: str) -> None:
    """Count this request of ``who`` in ``klass``, 429 ``rate_limited`` beyond its rate; then, for
    a costly request, wait for the caller's turn at costly work (``hold_costly``)."""
    limiter = _limiter(request)
    if limiter is not None:
        await _count(request, limiter, klass, who)
    if klass == EXPORTS:
        await hold_costly(request)


async def _count(request: Request, limiter: Limiter, klass: str, who: str) -> None:
    known = limiter.refused_now(klass, who)
    if known is not None or not limiter.blocking:
        taken = limiter.take(klass, who)
    else:
        taken = await run_in_threadpool(limiter.take, klass, who)
    if taken is None:
        return
    name, rate, decided = taken
    headers = _headers(name, rate, decided)
    request.scope[SCOPE_KEY] = headers
    if not decided.admitted:
        # The refusal waits a little before it is sent (at most until the next admission): the
        # caller's share of the process (``FairShare``) is then held by its own waiting refusals,
        # and a flood of them turns into a trickle instead of a loop as fast as the CPU allows.
        delay = min(float(decided.retry_after), request.app.state.settings.rate_limit_delay_seconds)
        if delay > 0:
            await asyncio.sleep(delay)
        raise _refusal(name, rate, decided, headers)


async def count_failed_sign_in(request: Request) -> None:
    """A refused credential counts against its address in ``sign_in``: 429 beyond the rate. Only
    failures count: a good key from the same address (an office behind one) is not held back by
    another's mistakes."""
    await enforce(request, SIGN_IN, address_of(request))


async def hold_costly(request: Request) -> None:
    """Wait for the caller's turn at costly work (``FairShare``'s ``costly_per_caller``), held
    until its answer is sent or abandoned."""
    ticket: _Ticket | None = request.scope.get(_SHARE_KEY)
    if ticket is not None and not ticket.holds_costly:
        await ticket.share.costly.acquire()
        ticket.holds_costly = True


class _Share:
    """One caller's share of the process: its requests in progress, and its costly ones."""

    __slots__ = ("requests", "costly", "users")

    def __init__(self, per_caller: int, costly_per_caller: int) -> None:
        self.requests = asyncio.Semaphore(per_caller)
        self.costly = asyncio.Semaphore(costly_per_caller)
        self.users = 0


class _Ticket:
    """One request's place in its caller's share."""

    __slots__ = ("share", "holds_costly")

    def __init__(self, share: _Share) -> None:
        self.share, self.holds_costly = share, False


class FairShare:
    """ASGI middleware: at most ``per_caller`` requests of one caller in progress in this process,
    and ``costly_per_caller`` of them in the costly class (exports, bundles, reports, statistics:
    ``hold_costly``); the caller's others wait their turn, parked (no thread, no work). A caller
    flooding the service then keeps that many requests in front of anyone else's, however many
    connections it opens, instead of one per connection: rate limits bound how much a caller
    gets done, this bounds how much of the process it holds at once.

    The caller is told apart before anything is read: its ``Authorization`` header, else its
    console session cookie, else its address (never stored as such: a digest)."""

    def __init__(self, app: ASGIApp, per_caller: int, costly_per_caller: int = 1) -> None:
        self.app = app
        self.per_caller = per_caller
        self.costly_per_caller = costly_per_caller
        self._gates: dict[bytes, _Share] = {}

    @staticmethod
    def caller(scope: Scope) -> bytes:
        headers = dict(scope.get("headers") or ())
        session = cookie_parser(headers.get(b"cookie", b"").decode("latin-1")).get(CONSOLE_SESSION_COOKIE)
        given = headers.get(b"authorization") or (f"session:{session}".encode() if session else b"")
        if not given:
            client = scope.get("client")
            given = f"address:{client[0] if client else '-'}".encode()
        return hashlib.blake2b(given, digest_size=16).digest()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in _UNGATED:
            await self.app(scope, receive, send)
            return
        caller = self.caller(scope)
        gate = self._gates.get(caller)
        if gate is None:
            gate = self._gates[caller] = _Share(self.per_caller, self.costly_per_caller)
        gate.users += 1
        ticket = scope[_SHARE_KEY] = _Ticket(gate)
        try:
            async with gate.requests:
                await self.app(scope, receive, send)
        finally:
            if ticket.holds_costly:
                gate.costly.release()
            gate.users -= 1
            if gate.users == 0:
                self._gates.pop(caller, None)


#: Paths outside any caller's share: the probes of the load balancer and of Prometheus.
_UNGATED = frozenset({"/healthz", "/readyz", "/metrics"})
