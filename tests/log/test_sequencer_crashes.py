"""Two application processes on one PostgreSQL, each with its sequencer, under pushes, killed
with SIGKILL again and again: the log keeps no gap, no fork, no event unsequenced for good."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from service.domain import merkle
from service.log.checkpoint import verify_note
from service.log.keys import LogSigner
from service.log.tree import TreeStore
from tests.conftest import ROOT, SIGNING_DIR, Api, make_settings, rows_for
from tests.pg_cluster import free_port

#: Kills in the run, alternating between the two processes.
KILLS = 4


class Process:
    """One uvicorn process of the service, its sequencer every 20 ms."""

    def __init__(self, database_url: str, folder: Path) -> None:
        self.port = free_port()
        self.env = {**os.environ, "SERVICE_DATABASE_URL": database_url, "SERVICE_LOG_DIR": str(SIGNING_DIR),
                    "SERVICE_SIGNING_DIR": str(SIGNING_DIR), "SERVICE_STORAGE_DIR": str(folder / "proofs"),
                    "SERVICE_LOG_SEQUENCE_INTERVAL_MS": "20", "SERVICE_API_KEY_CACHE_SECONDS": "30"}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "service.main:app", "--port", str(self.port)],
                                     cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(300):
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise AssertionError("the service did not start")

    def kill(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=20)


@pytest.mark.postgresql
def test_kill_9_at_any_moment_leaves_no_gap_no_fork_and_every_event_sequenced(
        api: Api, database_url: str, backend: str, tmp_path: Path) -> None:
    if backend != "postgresql":
        pytest.skip("two processes, two sequencers, one database server: PostgreSQL's case (SQLite has one writer)")
    requests = [api.create_request() for _ in range(4)]
    key = api.admin
    processes = [Process(database_url, tmp_path), Process(database_url, tmp_path)]
    for process in processes:
        process.start()
    stop = threading.Event()
    stored = []

    def load(worker: int) -> None:
        req = requests[worker]
        with httpx.Client(headers={"Authorization": f"Bearer {key}"}, timeout=5) as client:
            n = 0
            while not stop.is_set():
                n += 1
                target = processes[n % 2]
                try:
                    response = client.post(f"{target.url}/v1/funding-requests/{req['galis_ref']}/submissions",
                                           json={"milestone": "va", "rows": rows_for(req, dmp_fed=n % 50)})
                    if response.status_code == 201:
                        stored.append(response.json()["id"])
                except httpx.HTTPError:
                    time.sleep(0.01)  # that process is being killed

    threads = [threading.Thread(target=load, args=(i,)) for i in range(len(requests))]
    for thread in threads:
        thread.start()
    try:
        for round_ in range(KILLS):
            time.sleep(0.7)
            victim = processes[round_ % 2]
            victim.kill()
            victim.start()
        time.sleep(0.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        time.sleep(0.3)  # the last batches
        for process in processes:
            process.stop()
    assert len(stored) > 20, "the load did not run"

    sequencer = api.client.app.state.sequencer  # type: ignore[attr-defined]
    while sequencer.run_once() is not None:
        pass
    with api.database.engine.connect() as conn:
        indexes = [i for (i,) in conn.execute(sa.text("SELECT log_index FROM audit_event ORDER BY log_index"))]
        size = conn.execute(sa.text("SELECT size FROM log_state")).scalar_one()
        checkpoints = conn.execute(sa.text("SELECT size, root_hash, note FROM log_checkpoint ORDER BY size")).all()
        stored_versions = conn.execute(sa.text("SELECT count(*) FROM submission")).scalar_one()
        store = TreeStore(conn)
        roots = {int(s): store.root(int(s)) for s, _, _ in checkpoints}
    assert None not in indexes, "an event was left unsequenced"
    assert indexes == list(range(len(indexes))) and size == len(indexes), "a gap or a duplicate index"
    assert stored_versions >= len(stored)
    keys = LogSigner.from_settings(make_settings(database_url)).keys
    for checkpoint_size, root_hash, note in checkpoints:  # one tree: every checkpoint a prefix of the last
        assert roots[int(checkpoint_size)] == bytes(root_hash)
        signed = verify_note(note, keys, origin=make_settings(database_url).log_origin)
        assert signed.size == int(checkpoint_size) and signed.root_hash == bytes(root_hash)
    last = int(checkpoints[-1][0])
    with api.database.engine.connect() as conn:
        store = TreeStore(conn)
        for checkpoint_size, root_hash, _ in checkpoints[:: max(1, len(checkpoints) // 20)]:
            if int(checkpoint_size):
                proof = merkle.consistency_proof(int(checkpoint_size), last, store.subtree)
                assert merkle.verify_consistency(int(checkpoint_size), last, bytes(root_hash), roots[last], proof)
    verified = subprocess.run([sys.executable, "-m", "service", "audit", "verify"], capture_output=True, text=True,
                              cwd=ROOT, env={**os.environ, "SERVICE_DATABASE_URL": database_url,
                                             "SERVICE_LOG_DIR": str(SIGNING_DIR)}, timeout=300)
    assert verified.returncode == 0, verified.stdout + verified.stderr
