"""Every request gets an id: the caller's ``X-Request-Id`` when it is a sensible one (1 to 100
letters, digits, ``.``, ``_``, ``:`` or ``-``), else a new one; it is sent back in the answer's
``X-Request-Id`` and put on every log line written while the request is served, then one line
says how the request ended (method, path without its query, route, status, duration)."""

from __future__ import annotations

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

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

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

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
                message = {**message, "headers": [*headers, (HEADER, request_id.encode("ascii"))]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = getattr(scope.get("route"), "path", None)
            log.info("requête servie", extra={"fields": {
                "method": scope["method"], "path": scope["path"], "route": route, "status": status or None,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1)}})
            REQUEST_ID.reset(token)
