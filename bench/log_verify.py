"""``audit verify`` over a large log: time and peak memory, against a bare pass in the same run.

    python bench/log_verify.py [--events 1000000 100000]

For each size, a SQLite database is filled with that many audit events (a valid hash chain),
sequenced by the service's own sequencer into the log (tree nodes and a signed checkpoint),
then ``python -m service audit verify`` runs as a subprocess: its wall time and peak resident
memory are reported. The baseline, in the same run and on the same file, is a bare pass: read
every event in index order and SHA-256 its canonical leaf, nothing checked. Two sizes show
whether memory stays flat.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from sqlmodel import Session  # noqa: E402

from service.domain import audit  # noqa: E402
from service.kit.db import create_db_engine  # noqa: E402
from service.kit.settings import Settings  # noqa: E402
from service.log.keys import LogSigner  # noqa: E402
from service.log.sequencer import sequence_batch  # noqa: E402


def build(url: str, events: int) -> float:
    """Fill the database with ``events`` chained events and sequence them all; seconds spent."""
    started = time.perf_counter()
    engine = create_db_engine(url, pool_size=1, write=True)
    prev, payload = audit.GENESIS, {"milestone": "va", "version": 1}
    digest = audit.payload_digest(payload)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    batch = []
    with engine.begin() as conn:
        for seq in range(1, events + 1):
            link = audit.Link(seq=seq, occurred_at=start + timedelta(seconds=seq), actor_key_id=1,
                              actor_role="vendor", actor_label="éditeur", action="submission_stored",
                              object_type="submission", object_id=f"{seq:036d}", galis_ref="12345678",
                              payload_digest=digest, prev_hash=prev)
            prev = link.hash()
            batch.append((seq, link.occurred_at.isoformat(), 1, "vendor", "éditeur", "submission_stored",
                          "submission", link.object_id, "12345678", json.dumps(payload), digest, link.prev_hash,
                          prev))
            if len(batch) == 10_000 or seq == events:
                conn.exec_driver_sql(
                    "INSERT INTO audit_event (seq, occurred_at, actor_key_id, actor_role, actor_label, action, "
                    "object_type, object_id, galis_ref, payload, payload_digest, prev_hash, hash) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", batch)
                batch = []
        conn.execute(sa.text("UPDATE audit_head SET seq = :s, hash = :h"), {"s": events, "h": prev})
    settings = Settings(database_url=url, log_dir=Path(tempfile.gettempdir()) / "esms-bench-log")
    signer = LogSigner.from_settings(settings)
    while True:
        with Session(engine) as session, session.begin():
            if sequence_batch(session, signer, origin=settings.log_origin) is None:
                break
    engine.dispose()
    return time.perf_counter() - started


def bare_pass(url: str) -> float:
    started = time.perf_counter()
    engine = create_db_engine(url, pool_size=1)
    last, count = -1, 0
    with engine.connect() as conn:
        while True:
            rows = conn.execute(sa.text(
                "SELECT seq, occurred_at, actor_key_id, actor_role, actor_label, action, object_type, object_id, "
                "galis_ref, payload_digest, log_index FROM audit_event WHERE log_index > :last "
                "ORDER BY log_index LIMIT 5000"), {"last": last}).all()
            if not rows:
                break
            for r in rows:
                hashlib.sha256(b"\x00" + audit.canonical(list(r[:10]))).digest()
            count += len(rows)
            last = rows[-1].log_index
    engine.dispose()
    return time.perf_counter() - started


PEAK = ("import resource, sys; from service.__main__ import main; code = main(['audit', 'verify']); "
        "print('peak', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(code)")


def verify(url: str) -> tuple[float, float]:
    """Wall time and peak resident memory (MiB) of ``python -m service audit verify``."""
    env = {**os.environ, "SERVICE_DATABASE_URL": url,
           "SERVICE_LOG_DIR": str(Path(tempfile.gettempdir()) / "esms-bench-log")}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK], cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(done.stdout + done.stderr)
    peak = next(int(line.split()[1]) for line in done.stdout.splitlines() if line.startswith("peak "))
    return elapsed, peak / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args()
    print(f"{'events':>9} {'build s':>8} {'bare s':>7} {'verify s':>9} {'× bare':>7} {'peak MiB':>9}")
    for events in args.events:
        with tempfile.TemporaryDirectory(prefix="esms-bench-") as folder:
            url = f"sqlite:///{folder}/bench.sqlite3"
            subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, check=True,
                           env={**os.environ, "SERVICE_DATABASE_URL": url}, capture_output=True)
            built = build(url, events)
            bare = bare_pass(url)
            elapsed, peak = verify(url)
            print(f"{events:>9} {built:>8.1f} {bare:>7.1f} {elapsed:>9.1f} {elapsed / bare:>7.2f} {peak:>9.0f}")


if __name__ == "__main__":
    main()
