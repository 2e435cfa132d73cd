"""Every request gets an id: the caller's ``X-Request-Id`` when it is a sensible one (1 to 100
letters, digits, ``.``, ``_``, ``:`` or ``-``), else a new one; it is sent back in the answer's
``X-Request-Id`` and put on every log line written while the request is served, then one line
says how the request ended (method, path without its query, route, status, duration).

The answer also gets the rate-limit headers the request's counting left in its scope
(``service.http.limits``), whatever answered it."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.http import metrics
from service.http.limits import SCOPE_KEY as RATE_LIMIT_HEADERS
from service.kit.logs import REQUEST_ID

_SENSIBLE = re.compile(r"[A-Za-z0-9._:-]{1,100}")
HEADER = b"x-request-id"
log = logging.getLogger("service.requests")


def request_id_of(scope: Scope) -> str:
    given = next((value for name, value in scope.get("headers", ()) if name == HEADER), b"")
    try:
        text = given.decode("ascii")
    except UnicodeDecodeError:
        text = ""
    return text if _SENSIBLE.fullmatch(text) else uuid.uuid4().hex


class RequestIds:
    """ASGI middleware, outermost: the id, the answer's header, the request's last log line."""

    def __init__(self, app: ASGIApp, *, measured: bool = False) -> None:
        self.app = app
        #: Count each request for ``/metrics`` (when it is served: ``SERVICE_METRICS_TOKEN`` set).
        self.measured = measured

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        token = REQUEST_ID.set(request_id)
        started, status = time.perf_counter(), 0

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [(name, value) for name, value in message.get("headers", []) if name.lower() != HEADER]
                present = {name.lower() for name, _ in headers}
                limits = [(name.lower().encode("latin-1"), value.encode("latin-1"))
                          for name, value in scope.get(RATE_LIMIT_HEADERS, {}).items()
                          if name.lower().encode("latin-1") not in present]
                message = {**message, "headers": [*headers, *limits, (HEADER, request_id.encode("ascii"))]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = getattr(scope.get("route"), "path", None)
            took = time.perf_counter() - started
            log.info("requête servie", extra={"fields": {
                "method": scope["method"], "path": scope["path"], "route": route, "status": status or None,
                "duration_ms": round(took * 1000, 1)}})
            if self.measured:
                metrics.observe(scope["method"], route, status, took)
            REQUEST_ID.reset(token)
