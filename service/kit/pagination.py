"""Cursor pagination: ``?limit=`` (default 50, max 500) and an opaque ``?cursor=``."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from service.domain.errors import Issue, ValidationFailed

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


@dataclass(frozen=True)
class PageRequest:
    limit: int
    cursor: str | None


def encode_cursor(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value, separators=(",", ":")).encode()).decode().rstrip("=")


def _invalid() -> ValidationFailed:
    return ValidationFailed([Issue(code="invalid_cursor", field="cursor",
                                   message="Curseur de pagination invalide : reprenez la liste depuis le début.")])


def cursor_value(after: dict[str, Any], key: str, kind: type[Any]) -> Any:
    """One field of a decoded cursor: ``str``, ``int`` or ``datetime`` (ISO text); 422 otherwise."""
    value = after.get(key)
    try:
        if kind is datetime:
            moment = datetime.fromisoformat(str(value))
            if moment.tzinfo is not None:  # the service writes aware UTC times only
                moment.astimezone(UTC)  # out of range once converted: OverflowError
                return moment
        elif kind is int and isinstance(value, int) and not isinstance(value, bool) and -(2**63) <= value < 2**63:
            return value
        elif kind is str and isinstance(value, str) and len(value) <= 200:
            return value
    except (ValueError, OverflowError):
        pass
    raise _invalid()


def decode_cursor(cursor: str | None) -> dict[str, Any] | None:
    if cursor is None:
        return None
    try:
        value = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(value, dict):
            raise ValueError
        return value
    except (ValueError, json.JSONDecodeError):
        raise _invalid() from None
