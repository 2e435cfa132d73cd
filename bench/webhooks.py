"""Webhook benchmark: pushes at a steady rate with two subscriptions (a vendor's and the CNSA's)
delivered to a receiver on loopback; deliveries per second and commit → delivery latency, against
the same load with no subscription measured in the same run (what the outbox costs a push).

    python bench/webhooks.py [--rate 100] [--duration 30] [--backend sqlite postgresql]
                             [--deliverer process thread]

The service runs under uvicorn (1 worker), its deliverer in a child process (``process``, the
default) or in a thread of the application's process (``thread``), loopback allowed
(``SERVICE_WEBHOOKS_ALLOW_LOOPBACK=true``). Pushes are one-row declarations rotating over 64
requests, paced at ``--rate`` per second by 8 client threads. The latency of a delivery is from
its queuing (in the push's transaction, a little before the commit) to its arrival at the
receiver; both clocks are this machine's.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from push import call, cli_key, row, start_server, stop  # noqa: E402

from service.models import WebhookDelivery  # noqa: E402
from tests.factories import finess  # noqa: E402
from tests.pg_cluster import PostgresCluster  # noqa: E402

REQUESTS = 64
THREADS = 8


class Receiver:
    """Records the arrival time of each ``webhook-id``; answers 204 at once (HTTP/1.1 keep-alive)."""

    def __init__(self) -> None:
        self.arrivals: dict[str, datetime] = {}
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                self.rfile.read(int(self.headers.get("content-length") or 0))
                with owner.lock:
                    owner.arrivals.setdefault(self.headers["webhook-id"], datetime.now(UTC))
                self.send_response(204)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def paced_pushes(base: str, key: str, groups: list[tuple[str, str]], rate: float, duration: float) -> list[float]:
    """Push at ``rate`` per second for ``duration`` seconds; each push's latency (ms)."""
    latencies: list[float] = []
    lock = threading.Lock()
    total = int(rate * duration)
    start = time.monotonic() + 0.2
    local = threading.local()

    def one(n: int) -> None:
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"},
                                                 timeout=30)
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        ref, code = groups[n % len(groups)]
        began = time.perf_counter()
        response = client.post(f"/v1/funding-requests/{ref}/submissions",
                               json={"milestone": "va", "rows": [{**row(code), "dmp_fed": n % 90}]})
        elapsed = (time.perf_counter() - began) * 1000
        assert response.status_code == 201, response.text
        with lock:
            latencies.append(elapsed)

    with ThreadPoolExecutor(THREADS) as pool:
        list(pool.map(one, range(total)))
    return latencies


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def run(name: str, url: str, deliverer: str, args: argparse.Namespace) -> dict[str, object]:
    env = {**os.environ, "SERVICE_DATABASE_URL": url, "SERVICE_WEBHOOKS_ALLOW_LOOPBACK": "true",
           "SERVICE_WEBHOOKS_DELIVERER": deliverer}
    subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    admin = cli_key(env, "--role", "admin")
    receiver = Receiver()
    proc, base = start_server("service.main:app", env)
    try:
        groups = []
        for n in range(REQUESTS):
            ref, code = f"40{n:06d}", finess("33", n + 1)
            call(base, "POST", "/v1/funding-requests", admin, {
                "galis_ref": ref, "siret": "73282932000074", "porteur_name": "Banc d'essai", "campaign_year": 2024,
                "establishments": [{"finess": code, "name": f"ESMS {code}", "category": "500"}]})
            call(base, "POST", f"/v1/funding-requests/{ref}/events", admin, {"type": "va_validated",
                                                                           "date": "2024-03-01"})
            groups.append((ref, code))
        vendor = cli_key(env, "--role", "vendor", "--galis-ref", *[ref for ref, _ in groups])
        cnsa = cli_key(env, "--role", "cnsa_auditor")

        baseline = paced_pushes(base, vendor, groups, args.rate, args.duration / 3)
        for key in (vendor, cnsa):
            call(base, "POST", "/v1/webhooks", key, {"url": receiver.url, "events": ["submission.stored"]})
        since = datetime.now(UTC)
        began = time.monotonic()
        loaded = paced_pushes(base, vendor, groups, args.rate, args.duration)
        push_seconds = time.monotonic() - began
        engine = sa.create_engine(url)
        table = WebhookDelivery.__table__  # type: ignore[attr-defined]
        try:
            with engine.connect() as conn:
                queued = {r.id: r.created_at for r in conn.execute(
                    sa.select(table.c.id, table.c.created_at).where(table.c.created_at >= since))}
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                with receiver.lock:
                    arrived = len(set(queued) & set(receiver.arrivals))
                if arrived == len(queued):
                    break
                time.sleep(0.05)
            drained = time.monotonic() - began
            with engine.connect() as conn:
                states = dict(conn.execute(sa.select(table.c.status, sa.func.count()).group_by(table.c.status)).all())
        finally:
            engine.dispose()
        with receiver.lock:
            lags = [(receiver.arrivals[i] - at.replace(tzinfo=UTC) if at.tzinfo is None else receiver.arrivals[i] - at)
                    .total_seconds() * 1000 for i, at in queued.items() if i in receiver.arrivals]
            last = max(receiver.arrivals.values())
        spread = (last - since).total_seconds()
        return {"backend": name, "deliverer": deliverer, "pushes": len(loaded), "push_seconds": round(push_seconds, 2),
                "deliveries": len(queued), "arrived": len(lags), "states": states,
                "deliveries_per_s": round(len(lags) / spread, 1), "drained_s": round(drained, 2),
                "lag_p50_ms": round(quantile(lags, 0.5), 1), "lag_p99_ms": round(quantile(lags, 0.99), 1),
                "push_p50_ms": round(quantile(loaded, 0.5), 2), "push_p99_ms": round(quantile(loaded, 0.99), 2),
                "baseline_p50_ms": round(quantile(baseline, 0.5), 2),
                "baseline_p99_ms": round(quantile(baseline, 0.99), 2),
                "baseline_mean_ms": round(statistics.fmean(baseline), 2),
                "push_mean_ms": round(statistics.fmean(loaded), 2)}
    finally:
        stop(proc)
        receiver.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=100.0, help="pushes per second")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of pushes with the subscriptions")
    parser.add_argument("--backend", nargs="+", default=["sqlite", "postgresql"], choices=["sqlite", "postgresql"])
    parser.add_argument("--deliverer", nargs="+", default=["process", "thread"], choices=["process", "thread"])
    args = parser.parse_args()
    results = []
    workdir = Path(tempfile.mkdtemp(prefix="esms-bench-webhooks-"))
    cluster = PostgresCluster(durable=True).start() if "postgresql" in args.backend else None
    try:
        for backend in args.backend:
            for deliverer in args.deliverer:
                url = (f"sqlite:///{workdir / f'bench-{deliverer}.sqlite3'}" if backend == "sqlite"
                       else cluster.create_database(f"bench_{deliverer}"))  # type: ignore[union-attr]
                results.append(run(backend, url, deliverer, args))
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"\n{args.rate:.0f} one-row pushes/s for {args.duration:.0f} s, 2 subscriptions (2 deliveries per push), "
          f"receiver on loopback, {os.cpu_count()} cores\n")
    for r in results:
        print(f"{r['backend']}, deliverer {r['deliverer']}: {r['pushes']} pushes in {r['push_seconds']} s, "
              f"{r['arrived']}/{r['deliveries']} "
              f"deliveries arrived ({r['states']}), {r['deliveries_per_s']} deliveries/s, all in {r['drained_s']} s")
        print(f"  commit → delivery: p50 {r['lag_p50_ms']} ms, p99 {r['lag_p99_ms']} ms")
        print(f"  push latency with the outbox: p50 {r['push_p50_ms']} ms, p99 {r['push_p99_ms']} ms; without "
              f"subscription (same run): p50 {r['baseline_p50_ms']} ms, p99 {r['baseline_p99_ms']} ms; mean ratio "
              f"{float(r['push_mean_ms']) / float(r['baseline_mean_ms']):.2f}")  # type: ignore[arg-type]
        print(f"  deliveries per push per second / pushes per second: "
              f"{float(r['deliveries_per_s']) / 2 / args.rate:.2f}")  # type: ignore[arg-type]
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "webhooks.json").write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
