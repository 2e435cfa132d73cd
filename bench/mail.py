"""Mail benchmark: the outbox drained by the active deliverer to an SMTP server on loopback
(aiosmtpd), on SQLite and on PostgreSQL.

    python bench/mail.py [--mails 10000] [--rate 50] [--duration 20] [--backend sqlite postgresql]

Two phases, one deliverer process (``python -m service webhooks deliver``) throughout:

* **burst**: ``--mails`` mails queued at once (transactions of 100), then the time until the
  server has received them all: mails per second;
* **steady**: mails queued at ``--rate`` per second for ``--duration`` seconds, one transaction
  per tick of 50 ms; each mail's latency from its queueing (its ``created_at``, a little before
  the commit) to its arrival at the server, p50 and p99.

The deliverer's resident memory is sampled every 0.2 s: at its start, its peak, and at the end (a
deliverer that keeps what it sent would grow with the mails). Both clocks are this machine's.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aiosmtpd.controller import Controller  # noqa: E402
from sqlmodel import Session  # noqa: E402

from service.kit.db import Database  # noqa: E402
from service.kit.settings import Settings  # noqa: E402
from service.notifications import outbox  # noqa: E402
from tests.pg_cluster import PostgresCluster, free_port  # noqa: E402

MESSAGE_ID = re.compile(rb"^Message-ID: <([0-9a-f-]{36})@", re.MULTILINE | re.IGNORECASE)
CONTEXT = {"galis_ref": "12345678", "porteur": "Association Horizon", "author": "Léa Martin (ARS Occitanie)",
           "posted": "lundi 7 décembre 2026 à 14 h 30", "link": "https://esms.example/console/demandes/12345678",
           "body": "Bonjour,\nLa preuve du FINESS 240000372 est attendue avant jeudi.\nCordialement,\nLéa Martin"}


class Arrivals:
    """aiosmtpd's handler: the arrival time of each Message-ID."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        found = MESSAGE_ID.search(envelope.content)
        if found:
            with self.lock:
                self.at.setdefault(found.group(1).decode(), time.time())
        return "250 OK"

    def count(self) -> int:
        with self.lock:
            return len(self.at)


def rss_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def queue(database: Database, count: int, n0: int) -> list[tuple[str, float]]:
    """``count`` mails in one transaction; their ids and queueing instants."""
    def change(session: Session) -> list[tuple[str, float]]:
        made = []
        for n in range(n0, n0 + count):
            mail = outbox.queue(session, category="message", template="message.posted", context=CONTEXT,
                                recipients=[f"personne{n}@example.org"])
            assert mail is not None
            made.append((mail.id, mail.created_at.timestamp()))
        return made
    return database.writer.run_sync(change)


def wait_for(arrivals: Arrivals, total: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while arrivals.count() < total:
        if time.monotonic() > deadline:
            raise SystemExit(f"only {arrivals.count()} of {total} mails received in {timeout:.0f} s")
        time.sleep(0.01)


def run(backend: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    arrivals, port = Arrivals(), free_port()
    controller = Controller(arrivals, hostname="127.0.0.1", port=port)
    controller.start()
    env = {**os.environ, "SERVICE_DATABASE_URL": url, "SERVICE_SMTP_URL": f"smtp://127.0.0.1:{port}",
           "SERVICE_MAIL_FROM": "ESMS <ne-pas-repondre@esms.example>", "SERVICE_LOG_FORMAT": "text"}
    subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    database = Database(Settings(database_url=url, storage_dir=Path(tempfile.mkdtemp())))
    proc = subprocess.Popen([sys.executable, "-m", "service", "webhooks", "deliver"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rss: list[int] = []
    stop = threading.Event()
    sampler = threading.Thread(target=lambda: [rss.append(rss_kib(proc.pid)) for _ in iter(lambda: stop.wait(0.2),
                                                                                            True)])
    try:
        time.sleep(1.0)  # the deliverer takes its lease
        rss.append(rss_kib(proc.pid))
        sampler.start()
        started = time.perf_counter()
        for n0 in range(0, args.mails, 100):
            queue(database, min(100, args.mails - n0), n0)
        queued_s = time.perf_counter() - started
        wait_for(arrivals, args.mails, timeout=600)
        burst_s = time.perf_counter() - started
        steady: list[tuple[str, float]] = []
        per_tick = max(1, round(args.rate * 0.05))
        began = time.perf_counter()
        n = args.mails
        while time.perf_counter() - began < args.duration:
            steady += queue(database, per_tick, n)
            n += per_tick
            time.sleep(max(0.0, began + (n - args.mails) / args.rate - time.perf_counter()))
        wait_for(arrivals, n, timeout=120)
        latencies = sorted((arrivals.at[mail_id] - created) * 1000 for mail_id, created in steady)
        rss_end = rss_kib(proc.pid)
    finally:
        stop.set()
        proc.terminate()
        proc.wait(timeout=30)
        controller.stop()
        database.close()
    return {
        "backend": backend,
        "burst": {"mails": args.mails, "queued_s": round(queued_s, 2), "sent_s": round(burst_s, 2),
                  "mails_per_s": round(args.mails / burst_s)},
        "steady": {"rate": args.rate, "mails": len(steady), "p50_ms": round(statistics.median(latencies), 1),
                   "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 1), "max_ms": round(latencies[-1], 1)},
        "deliverer_rss_kib": {"start": rss[0], "peak": max(rss), "end": rss_end},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mails", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=50.0, help="mails queued per second in the steady phase")
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--backend", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    args = parser.parse_args()
    results = []
    for backend in args.backend:
        if backend == "sqlite":
            folder = Path(tempfile.mkdtemp(prefix="esms-bench-mail-"))
            results.append(run(backend, f"sqlite:///{folder / 'service.sqlite3'}", args))
        else:
            cluster = PostgresCluster(durable=True).start()
            try:
                results.append(run(backend, cluster.create_database("mail"), args))
            finally:
                cluster.stop()
        print(json.dumps(results[-1], ensure_ascii=False), flush=True)
    print()
    print(f"{'backend':<11}{'burst mails/s':>14}{'steady p50 ms':>15}{'p99 ms':>9}{'max ms':>9}"
          f"{'RSS start→peak→end MiB':>26}")
    for r in results:
        rss = r["deliverer_rss_kib"]
        print(f"{r['backend']:<11}{r['burst']['mails_per_s']:>14}{r['steady']['p50_ms']:>15}{r['steady']['p99_ms']:>9}"
              f"{r['steady']['max_ms']:>9}{rss['start'] / 1024:>11.1f} → {rss['peak'] / 1024:.1f} → "
              f"{rss['end'] / 1024:.1f}")
    out = ROOT / "bench" / "results" / "mail.json"
    out.write_text(json.dumps({"at": datetime.now(UTC).isoformat(), "results": results}, indent=2,
                              ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
