"""Helpers for responses that carry a file."""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO
from urllib.parse import quote

CHUNK = 1 << 16


def attachment(filename: str) -> str:
    """``Content-Disposition`` for a download, with an ASCII fallback and the exact UTF-8 name."""
    ascii_name = filename.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"


def file_chunks(handle: IO[bytes]) -> Iterator[bytes]:
    """The bytes of an open file, chunk by chunk; the file is closed at the end."""
    try:
        while chunk := handle.read(CHUNK):
            yield chunk
    finally:
        handle.close()
