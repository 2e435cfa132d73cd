"""Processes as Linux's /proc shows them: children and descendants of a process, and whether one
still runs."""

from __future__ import annotations

import os
from pathlib import Path


def children_of(pid: int) -> set[int]:
    found = set()
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat[1]) == pid:
            found.add(int(entry))
    return found


def descendants_of(pid: int) -> set[int]:
    found: set[int] = set()
    fringe = children_of(pid)
    while fringe:
        found |= fringe
        fringe = {grandchild for child in fringe for grandchild in children_of(child)} - found
    return found


def command_of(pid: int) -> str:
    """The command line of ``pid`` (empty once it is gone)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
