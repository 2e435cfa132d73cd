"""The service's logs as JSON lines (one object per line, UTF-8), each with the id of the request
it belongs to (``X-Request-Id``), for a log collector to index; plain text for the tests.

The standard library's ``logging`` and ``json`` do it: a formatter and a context variable, no
framework. What a line holds: ``time`` (UTC), ``level``, ``logger``, ``message``,
``request_id`` when the line was written while a request was served, the fields a caller passed
as ``extra={"fields": {...}}``, and ``exception`` (the traceback as text) for an error. Nothing
else of the request is logged: never a header, a body or a query string, where secrets travel.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

#: The id of the request being served (set by ``service.http.request_ids``).
REQUEST_ID: ContextVar[str | None] = ContextVar("request_id", default=None)

_BASE = ("time", "level", "logger", "message", "request_id", "exception")
_OURS = "esms_json_handler"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage()}
        request_id = REQUEST_ID.get()
        if request_id:
            entry["request_id"] = request_id
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            entry.update({name: value for name, value in fields.items() if name not in _BASE})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


def configure(log_format: str, level: str = "INFO") -> None:
    """With ``json``: every line of the process (the service's, uvicorn's) through one JSON
    handler on stderr; uvicorn's access log off, since the service logs each request itself.
    Idempotent; with ``text``, logging is left as it is (uvicorn's, or pytest's)."""
    if log_format != "json":
        return
    root = logging.getLogger()
    if any(getattr(handler, _OURS, False) for handler in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    setattr(handler, _OURS, True)
    root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers = []
        uvicorn_logger.propagate = True
    logging.getLogger("uvicorn.access").disabled = True
