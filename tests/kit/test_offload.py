"""Costly work in a pool of lower-priority processes: results and errors come back as if run
here, a job past its time is killed without taking the pool down, a written file has no name
left, and the pool's processes end with their parent, even killed with ``kill -9``."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import IO

import pytest

from service.kit.offload import NICENESS, Offload, OffloadTimeout
from tests.conftest import ROOT
from tests.processes import alive


def where_and_how_nice() -> tuple[int, int]:
    return os.getpid(), os.nice(0)


def fail(code: int) -> None:
    raise OSError(code, os.strerror(code))


def sleep_then(seconds: float, value: str) -> str:
    time.sleep(seconds)
    return value


def write_lines(lines: list[str], handle: IO[bytes]) -> None:
    for line in lines:
        handle.write(line.encode() + b"\n")


@pytest.fixture
def offload() -> Iterator[Offload]:
    pool = Offload(workers=1, timeout=30)
    yield pool
    pool.close()


def test_work_runs_in_another_process_at_a_lower_priority(offload: Offload) -> None:
    pid, niceness = offload.run(where_and_how_nice)
    assert pid != os.getpid()
    assert niceness == min(19, os.nice(0) + NICENESS)
    assert offload.run(where_and_how_nice)[0] == pid  # the same process for the next job


def test_errors_come_back_with_their_errno(offload: Offload) -> None:
    with pytest.raises(OSError) as raised:
        offload.run(fail, errno.ENOSPC)
    assert raised.value.errno == errno.ENOSPC  # a full disk stays a full disk (507 storage_full)


def test_a_job_past_its_time_is_killed_and_the_pool_goes_on() -> None:
    pool = Offload(workers=1, timeout=0.5)
    try:
        first, _ = pool.run(where_and_how_nice)
        began = time.monotonic()
        with pytest.raises(OffloadTimeout):
            pool.run(sleep_then, 30, "jamais")
        assert time.monotonic() - began < 10
        deadline = time.monotonic() + 10
        while alive(first) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(first)  # killed, not left running in the background
        assert pool.run(sleep_then, 0, "suite") == "suite"
        assert pool.run(where_and_how_nice)[0] != first  # a new process took its place
    finally:
        pool.close()


def test_a_written_file_is_open_sized_and_nameless(offload: Offload) -> None:
    folder = tempfile.gettempdir()
    before = set(os.listdir(folder))
    handle, size = offload.write(write_lines, (f"ligne {n}" for n in range(3)))  # a generator: listed first
    with handle:
        assert handle.read() == b"ligne 0\nligne 1\nligne 2\n"
    assert size == len(b"ligne 0\nligne 1\nligne 2\n")
    assert not [name for name in set(os.listdir(folder)) - before if name.startswith("esms-offload-")]


def test_without_workers_the_work_runs_here() -> None:
    assert Offload(workers=0, timeout=1).run(where_and_how_nice) == (os.getpid(), os.nice(0))


PARENT = """
import sys, time
from service.kit.offload import Offload
from tests.kit.test_offload import where_and_how_nice
pool = Offload(workers=1, timeout=30)
print(pool.run(where_and_how_nice)[0], flush=True)
time.sleep(600)
"""


def test_the_pool_ends_with_its_parent_killed() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], cwd=ROOT, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert alive(child)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not alive(child)
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()  # type: ignore[union-attr]
