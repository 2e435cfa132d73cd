"""The deliverer as a child process of the application, restarted when it exits.

Sending webhooks is CPU work (HTTP, TLS, JSON) that would otherwise share the interpreter lock
with the requests of the application's process: on PostgreSQL each statement of a push gives
the lock up while it waits for the server and must take it back from the delivery threads,
which multiplied a push's latency several times (``bench/webhooks.py``). So by default
(``SERVICE_WEBHOOKS_DELIVERER=process``) each application process starts
``python -m service webhooks deliver --parent <pid>`` with its own settings; the lease lets one
of them deliver at a time, and a child whose parent is gone (even killed with ``kill -9``)
stops by itself.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

from service.kit.settings import Settings

log = logging.getLogger(__name__)

#: Seconds before a child that exited is started again (doubling up to the last).
RESTART_DELAYS = (1.0, 2.0, 5.0, 15.0, 30.0)


def settings_env(settings: Settings) -> dict[str, str]:
    """The ``SERVICE_*`` variables that give a child process these settings."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        env[f"SERVICE_{name.upper()}"] = _text(value)
    return env


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value, default=str)
    if isinstance(value, Path):
        return str(value)
    return str(value)


class DelivererProcess:
    def __init__(self, settings: Settings) -> None:
        self.env = {**os.environ, **settings_env(settings)}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._supervise, name="webhook-deliverer-supervisor", daemon=True)

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def start(self) -> DelivererProcess:
        self._thread.start()
        return self

    def _supervise(self) -> None:
        failures = 0
        while not self._stop.is_set():
            with self._lock:
                if self._stop.is_set():
                    return
                self._proc = subprocess.Popen(
                    [sys.executable, "-m", "service", "webhooks", "deliver", "--parent", str(os.getpid())],
                    env=self.env, stdout=subprocess.DEVNULL)
            code = self._proc.wait()
            if self._stop.is_set():
                return
            delay = RESTART_DELAYS[min(failures, len(RESTART_DELAYS) - 1)]
            failures += 1
            log.warning("webhook deliverer process exited with %s; started again in %.0f s", code, delay)
            self._stop.wait(delay)

    def stop(self) -> None:
        with self._lock:
            self._stop.set()
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
        self._thread.join(timeout=5)
