"""CPU-bound work out of the request processes.

Writing a workbook with openpyxl holds the interpreter the whole time (10 ms for a version of
three establishments, 0.8 s for 3 000): in a request process, every other request of that
process waits meanwhile. ``Offload`` runs such work in a small pool of processes of its own, at
a lower scheduling priority (``nice``), so that the request processes keep the CPU for answering
and the costly work takes what is left. Each job is bounded in time: past ``timeout`` seconds its
process is killed and replaced (pebble's ``ProcessPool``), and the caller gets ``OffloadTimeout``.

The pool's processes start with the first job, forked from multiprocessing's fork server (a
fresh interpreter of this process's, the costly modules already imported: nothing of the
parent's threads or connections is inherited, and a new process is ready in milliseconds); they
stop when their parent is gone, killed or not. With ``workers=0``
the work runs in the calling thread (the command line).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import TimeoutError as FutureTimeout
from typing import IO, Any, TypeVar

from pebble import ProcessPool

log = logging.getLogger("service.offload")

T = TypeVar("T")

#: How much less a pool's process weighs for the scheduler than a request process (``nice``).
NICENESS = 10


class OffloadTimeout(Exception):
    """A job went past its time; its process was killed."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"job longer than {seconds:g} s")
        self.seconds = seconds


def _start_worker(niceness: int) -> None:
    """In each of the pool's processes: a lower priority, and an end with its parent (the fork
    server, which itself ends with the process that started it)."""
    os.nice(niceness)
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(0)  # the parent is gone: nothing to answer to

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _write_to(write: Callable[[Any, IO[bytes]], None], items: Any, path: str) -> None:
    with open(path, "wb") as handle:
        write(items, handle)


#: Imported once by the fork server, so that each pool process starts with them.
PRELOAD = ["service.exports.files", "service.reports.use_cases"]


def _context() -> multiprocessing.context.BaseContext:
    """Processes forked from a fork server of this process: a fresh interpreter (nothing of this
    process's threads, connections or locks), started once with the costly modules imported."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return context


class Offload:
    """A pool of ``workers`` lower-priority processes for costly work (0: in the calling thread)."""

    def __init__(self, workers: int, timeout: float) -> None:
        self.workers, self.timeout = workers, timeout
        self._pool: ProcessPool | None = None
        self._lock = threading.Lock()

    def _started(self) -> ProcessPool:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPool(max_workers=self.workers, initializer=_start_worker,
                                         initargs=(NICENESS,), context=_context())
            return self._pool

    def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` in a pool process (``fn`` importable, arguments and result picklable),
        waited for from the calling thread; its exceptions raised here."""
        if self.workers == 0:
            return fn(*args)
        future = self._started().schedule(fn, args, timeout=self.timeout)
        try:
            return future.result()
        except FutureTimeout:
            log.warning("offloaded %s killed after %g s", getattr(fn, "__qualname__", fn), self.timeout)
            raise OffloadTimeout(self.timeout) from None

    def write(self, write: Callable[[T, IO[bytes]], None], items: T) -> tuple[IO[bytes], int]:
        """A file written by ``write(items, handle)`` in a pool process: open at its start, its
        size; the file has no name left (gone once closed)."""
        if isinstance(items, Iterable) and not isinstance(items, (list, tuple)):
            items = list(items)  # type: ignore[assignment]  # a generator does not cross processes
        handle = tempfile.NamedTemporaryFile(prefix="esms-offload-", delete=False)  # noqa: SIM115
        try:
            self.run(_write_to, write, items, handle.name)
            size = os.fstat(handle.fileno()).st_size
            handle.seek(0)
        except BaseException:
            handle.close()
            raise
        finally:
            os.unlink(handle.name)
        return handle, size

    def close(self) -> None:
        """Stop the pool's processes (jobs in progress are abandoned)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.stop()
            pool.join(timeout=5)
