"""Cursor pagination: ``?limit=`` (default 50, max 500) and an opaque ``?cursor=``."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, Self, TypeVar

import sqlalchemy as sa

from service.domain.errors import Issue, ValidationFailed


class _Query(Protocol):
    """What a keyset page needs of a statement (SQLAlchemy's and SQLModel's selects)."""

    def where(self, *clauses: Any) -> Self: ...
    def order_by(self, *clauses: Any) -> Self: ...
    def limit(self, limit: int) -> Self: ...


Q = TypeVar("Q", bound=_Query)
R = TypeVar("R")

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


@dataclass(frozen=True)
class Key:
    """One column of a keyset order: its name in the cursor, the column, the Python type its
    cursor value must have (``str``, ``int`` or ``datetime``), and its direction."""

    name: str
    column: Any
    kind: type[Any]
    descending: bool = False


class Keyset:
    """Keyset ("seek") pagination over a total order: a page is the rows after the last one of
    the previous page, whose key values the cursor holds. Unlike an offset, a page neither skips
    nor repeats a row when rows are added meanwhile, and costs the same at any depth."""

    def __init__(self, *keys: Key) -> None:
        self.keys = keys

    def select(self, query: Q, page: PageRequest) -> Q:
        """``query`` restricted to the rows after the cursor's, in the keys' order, limited to one
        row more than the page (to know whether another page follows)."""
        after = decode_cursor(page.cursor)
        if after is not None:
            query = query.where(self._beyond([cursor_value(after, k.name, k.kind) for k in self.keys]))
        order = [k.column.desc() if k.descending else k.column for k in self.keys]
        return query.order_by(*order).limit(page.limit + 1)

    def _beyond(self, values: list[Any]) -> Any:
        if len({k.descending for k in self.keys}) == 1:  # one direction: a row-value comparison
            columns = [k.column for k in self.keys]
            left, right = ((columns[0], values[0]) if len(columns) == 1
                           else (sa.tuple_(*columns), sa.tuple_(*values)))
            return left < right if self.keys[0].descending else left > right
        # Mixed directions: beyond on the first key, or equal on it and beyond on the next…
        return sa.or_(*(sa.and_(*(k.column == v for k, v in zip(self.keys[:i], values[:i], strict=True)),
                                key.column < values[i] if key.descending else key.column > values[i])
                        for i, key in enumerate(self.keys)))

    def page(self, rows: Sequence[R], page: PageRequest,
             values_of: Callable[[R], Sequence[Any]]) -> tuple[list[R], str | None]:
        """The page's rows and the cursor of the next page (``None`` at the end); ``values_of``
        gives a row's key values in the keys' order."""
        shown = list(rows[: page.limit])
        if len(rows) <= page.limit or not shown:
            return shown, None
        values = values_of(shown[-1])
        return shown, encode_cursor({k.name: v.isoformat() if isinstance(v, datetime) else v
                                     for k, v in zip(self.keys, values, strict=True)})


def list_page(items: Sequence[R], page: PageRequest) -> tuple[list[R], str | None]:
    """A page of a list computed whole and ordered in Python (not in SQL): the cursor holds the
    offset of the next page."""
    after = decode_cursor(page.cursor)
    start = max(0, cursor_value(after, "offset", int)) if after is not None else 0
    end = start + page.limit
    return list(items[start:end]), encode_cursor({"offset": end}) if end < len(items) else None
