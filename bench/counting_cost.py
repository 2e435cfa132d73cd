"""What counting costs a request: the metrics (prometheus_client in multiprocess mode, as under
``python -m service serve``), the rate limiter (in memory; and on PostgreSQL, one statement per
batch), measured per call in the same run against a push's CPU time from ``bench/push.py``. The
PostgreSQL figures are mostly waiting (a worker thread, the server's round trip), not the
service's CPU.

    python bench/counting_cost.py [--calls 20000] [--push-cpu-ms 2.0]

The end-to-end comparison (``bench/push.py --compare-limits``) drifts by tens of percent from
one run to the next on a shared machine: the per-call figures here are steadier.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="esms-bench-metrics-")  # before the import

from service.http import metrics  # noqa: E402
from service.kit.rate_limits import DatabaseCounter, Limiter, MemoryCounter, Rate, batch_of  # noqa: E402
from tests.pg_cluster import PostgresCluster  # noqa: E402


def per_call_us(action: object, calls: int) -> float:
    began = time.perf_counter()
    for _ in range(calls):
        action()  # type: ignore[operator]
    return (time.perf_counter() - began) / calls * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--push-cpu-ms", type=float, default=4.0,
                        help="CPU ms of one 1-row push (bench/push.py's cpu ms column)")
    args = parser.parse_args()
    gauge = metrics.CONNECTIONS.labels("read")
    figures = {
        "metrics: one request observed": per_call_us(
            lambda: metrics.observe("POST", "/v1/funding-requests/{galis_ref:request_ref}/submissions", 201, 0.01),
            args.calls),
        "metrics: one connection checked out and in": per_call_us(lambda: (gauge.inc(), gauge.dec()), args.calls),
        "rate limit, in memory": per_call_us(
            lambda: Limiter({"default": Rate(1_000_000, 1)}, MemoryCounter()).take("default", "key:1"), args.calls),
    }
    cluster = PostgresCluster(durable=True).start()
    try:
        import sqlalchemy as sa
        from alembic import command

        from tests.conftest import alembic_config

        url = cluster.create_database("counting")
        command.upgrade(alembic_config(url), "head")
        engine = sa.create_engine(url, pool_size=4, pool_pre_ping=True)
        rate = Rate(600, 60)
        shared = Limiter({"default": Rate(1_000_000, 1)}, DatabaseCounter(engine))
        figures[f"rate limit, PostgreSQL, batches of {batch_of(Rate(1_000_000, 1))}"] = per_call_us(
            lambda: shared.take("default", "key:1"), args.calls // 10)
        counter = DatabaseCounter(engine)
        figures["rate limit, PostgreSQL, one statement"] = per_call_us(
            lambda: counter.take("default:key:2", time.time(), 1e-6, 1.0), 500)
        engine.dispose()
        print(f"(the default rate, {rate.count}/min, takes batches of {batch_of(rate)})")
    finally:
        cluster.stop()
    print(f"\n{'what':<48}{'µs per call':>12}{'% of a push':>13}")
    for what, us in figures.items():
        print(f"{what:<48}{us:>12.1f}{100 * us / 1000 / args.push_cpu_ms:>12.2f}%")
    per_request = (figures["metrics: one request observed"] + 3 * figures["metrics: one connection checked out and in"]
                   + figures[f"rate limit, PostgreSQL, batches of {batch_of(Rate(1_000_000, 1))}"])
    print(f"\nA push on PostgreSQL (one observation, three connections, one limit): {per_request:.1f} µs, "
          f"{100 * per_request / 1000 / args.push_cpu_ms:.2f} % of {args.push_cpu_ms} ms. Goal: at most 3 %.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
