"""Development keys written once: the first process to write a key file wins, the others read it."""

from __future__ import annotations

import os
from pathlib import Path


def create_once(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` (readable by its owner only, fsynced) unless the file exists;
    processes starting together agree on the first one written (atomic link)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}-{os.getpid()}-{id(content)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        os.link(tmp, path)  # fails if another process got there first: its file is kept
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
