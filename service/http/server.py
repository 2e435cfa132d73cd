"""Serving the application: uvicorn with bounds on slow clients, and workers that stop with
their master.

* **Headers**: uvicorn waits for a request's headers as long as the client likes (a client
  sending one byte every few seconds, or half a request line, holds its connection and file
  descriptor forever). ``BoundedHttpToolsProtocol`` gives them ``SERVICE_HEADERS_TIMEOUT_SECONDS``
  from the first byte of a request (or from the connection's opening), then answers 408 and
  closes.
* **Bodies**: ``BodyDeadline`` (ASGI middleware) answers 408 ``request_timeout`` and closes the
  connection when a body has not fully arrived ``SERVICE_BODY_TIMEOUT_SECONDS`` after the
  request's start; the wait is in the event loop, no thread is held.
* **Idle connections**: uvicorn's keep-alive timeout (``SERVICE_KEEP_ALIVE_SECONDS``); **many
  connections**: uvicorn's ``limit_concurrency`` (``SERVICE_MAX_CONNECTIONS`` per worker, 503
  beyond), and the process's limit of open files raised to its hard limit.
* **Workers**: ``python -m service serve --workers N`` runs uvicorn's supervisor; each worker
  watches it and shuts down gracefully (its webhook deliverer with it) when it is gone, even
  killed with ``kill -9``, so that a restarted master binds its port alone.
"""

from __future__ import annotations

import asyncio
import logging
import os
import resource
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from service.kit.settings import get_settings

log = logging.getLogger(__name__)
#: prometheus_client's folder of per-process counters (``service.http.metrics``), set before the
#: library is first imported: it chooses how to count when it is imported.
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: The environment variable naming the supervisor's pid, for its workers.
SUPERVISOR_ENV = "SERVICE_SUPERVISOR_PID"
_TOO_SLOW = "En-têtes de requête reçus trop lentement : connexion fermée.\n".encode()
_REQUEST_TIMEOUT = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                    b"connection: close\r\ncontent-length: %d\r\n\r\n%s" % (len(_TOO_SLOW), _TOO_SLOW))


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a time bound on the arrival of each request's headers."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.headers_timeout = get_settings().headers_timeout_seconds
        self._headers_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_headers_timer()  # a connection that sends nothing is closed as well

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm_headers_timer()

    def on_headers_complete(self) -> None:
        self._cancel_headers_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_headers_timer()
        super().connection_lost(exc)

    def _arm_headers_timer(self) -> None:
        if self._headers_timer is None:
            self._headers_timer = self.loop.call_later(self.headers_timeout, self._headers_too_slow)

    def _cancel_headers_timer(self) -> None:
        if self._headers_timer is not None:
            self._headers_timer.cancel()
            self._headers_timer = None

    def _headers_too_slow(self) -> None:
        self._headers_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete:  # not in the middle of an answer
            self.transport.write(_REQUEST_TIMEOUT)
        self.transport.close()


class BodyTimeout(StarletteHTTPException):
    """A body still incomplete at its deadline (an HTTP exception: FastAPI lets those through its
    body parsing unchanged)."""

    def __init__(self, seconds: float) -> None:
        super().__init__(408, f"Le corps de la requête n'est pas arrivé en entier dans les {seconds:g} s "
                              "admises : rien n'a été fait.", headers={"Connection": "close"})


class BodyDeadline:
    """ASGI middleware: every ``receive`` of a request's body waits at most until the request's
    start plus ``seconds``; then ``BodyTimeout``. Once the body is whole, ``receive`` (which
    then only says whether the client left) waits without bound."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.seconds
        whole = False

        async def bounded_receive() -> Message:
            nonlocal whole
            if whole:
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(0.0, deadline - loop.time()))
            except TimeoutError:
                log.warning("request body timed out (%s %s)", scope["method"], scope["path"])
                raise BodyTimeout(self.seconds) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                whole = True
            return message

        await self.app(scope, bounded_receive, send)


def raise_open_files_limit() -> int:
    """The soft limit of open files raised to the hard one (each connection holds one); the new
    soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    return soft


def watch_supervisor() -> threading.Thread | None:
    """In a worker of ``python -m service serve --workers N``: a thread that ends the worker
    gracefully (SIGTERM to itself) once its supervisor is gone. ``None`` elsewhere."""
    supervisor = os.environ.get(SUPERVISOR_ENV)
    if not supervisor or not supervisor.isdigit() or int(supervisor) != os.getppid():
        return None

    def watch() -> None:
        while os.getppid() == int(supervisor):
            time.sleep(0.5)
        log.warning("the supervisor (pid %s) is gone: this worker stops", supervisor)
        os.kill(os.getpid(), signal.SIGTERM)

    thread = threading.Thread(target=watch, name="supervisor-watch", daemon=True)
    thread.start()
    return thread


def serve(*, host: str, port: int, workers: int) -> None:
    """uvicorn with the service's bounds (see the module's text)."""
    import uvicorn

    settings = get_settings()
    raise_open_files_limit()
    # every worker's counters in files of a folder of this run, added up at each scrape
    assert "prometheus_client" not in sys.modules, "serve() must run before the metrics are imported"
    folder = os.environ.get(MULTIPROCESS_ENV) or tempfile.mkdtemp(prefix="esms-metrics-")
    for stale in Path(folder).glob("*.db"):  # a previous run's counters: this run starts from zero
        stale.unlink()
    os.environ[MULTIPROCESS_ENV] = folder
    if workers > 1:
        os.environ[SUPERVISOR_ENV] = str(os.getpid())  # inherited by the workers
    uvicorn.run("service.main:app", host=host, port=port, workers=workers, loop="uvloop",
                http=BoundedHttpToolsProtocol, timeout_keep_alive=int(settings.keep_alive_seconds),
                limit_concurrency=settings.max_connections, access_log=False, proxy_headers=True,
                server_header=False)
