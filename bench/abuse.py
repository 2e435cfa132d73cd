"""Abuse benchmark: one key floods the service with evidence bundles, exports and pushes while a
second key's reads are timed, against that second key's latency alone in the same run; with the
rate limits as configured by default and with them off.

    python bench/abuse.py [--duration 20] [--rounds 1] [--connections 16] [--proofs 3] [--megabytes 3]
                          [--flood-with zip xlsx push] [--limits default off]

For each backend (SQLite with 1 worker, PostgreSQL with 2), and each limit setting (the default
``SERVICE_RATE_LIMITS``, then ``off``), a fresh server is seeded with two requests: the flooder's
(a version and ``--proofs`` proofs of ``--megabytes`` MB) and the victim's (one version). The
victim reads its version (``GET /v1/submissions/{id}``) one request at a time, 20 per second,
first alone, then while ``wrk`` runs the flood: each connection in turn fetches the flooder's
``evidence.zip``, its version as ``.xlsx`` and pushes a new version. Reported: the victim's p50
and p99 alone and under the flood and their ratios, the flood's requests and how many were
refused (429), and the database's growth during the flood.

Needs ``wrk`` (Debian package).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import httpx  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from evidence import upload_proofs  # noqa: E402
from push import call, cli_key, row, save_results, start_server, stop  # noqa: E402

from tests.factories import finess  # noqa: E402
from tests.pg_cluster import PostgresCluster  # noqa: E402

FLOOD_LUA = """
local requests = {%(requests)s}
local i = 0
request = function()
  i = i + 1
  local r = requests[(i %% #requests) + 1]
  return wrk.format(r[1], r[2], {["Authorization"] = "Bearer %(key)s", ["Content-Type"] = "application/json"}, r[3])
end
"""


def seed(base: str, env: dict[str, str], proofs: int, size: int) -> dict[str, str]:
    admin = cli_key(env, "--role", "admin")
    ids: dict[str, str] = {}
    for who, ref, count in (("flooder", "41000001", proofs), ("victim", "41000002", 1)):
        codes = [finess("41" if who == "flooder" else "42", n + 1) for n in range(count)]
        call(base, "POST", "/v1/funding-requests", admin, {
            "galis_ref": ref, "siret": "73282932000074", "porteur_name": "Banc d'essai", "campaign_year": 2024,
            "establishments": [{"finess": c, "name": f"ESMS {c}", "category": "500"} for c in codes]})
        call(base, "POST", f"/v1/funding-requests/{ref}/events", admin, {"type": "va_validated", "date": "2024-03-01"})
        key = cli_key(env, "--role", "vendor", "--galis-ref", ref, "--label", who)
        version = call(base, "POST", f"/v1/funding-requests/{ref}/submissions", key,
                       {"milestone": "va", "rows": [row(c) for c in codes]})["id"]
        ids[f"{who}_key"], ids[f"{who}_version"], ids[f"{who}_ref"] = key, str(version), ref
        ids[f"{who}_rows"] = json.dumps({"milestone": "va", "rows": [row(c) for c in codes]})
        if who == "flooder":
            upload_proofs(base, admin, str(version), codes, size)
    return ids


class Victim(threading.Thread):
    """One request at a time, ``rate`` per second, each latency kept (ms)."""

    def __init__(self, base: str, key: str, path: str, seconds: float, rate: float = 20.0) -> None:
        super().__init__(daemon=True)
        self.base, self.key, self.path, self.seconds, self.rate = base, key, path, seconds, rate
        self.latencies: list[float] = []
        self.failures = 0

    def run(self) -> None:
        with httpx.Client(base_url=self.base, headers={"Authorization": f"Bearer {self.key}"}, timeout=30) as client:
            client.get(self.path)  # the connection and the key's cache entry, not measured
            end = time.perf_counter() + self.seconds
            while (began := time.perf_counter()) < end:
                response = client.get(self.path)
                took = (time.perf_counter() - began) * 1000
                if response.status_code == 200:
                    self.latencies.append(took)
                else:
                    self.failures += 1
                time.sleep(max(0.0, 1 / self.rate - took / 1000))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


def database_bytes(url: str, storage: Path) -> int:
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text("SELECT pg_database_size(current_database())")).scalar_one())
    finally:
        engine.dispose()


def flood(base: str, ids: dict[str, str], args: argparse.Namespace) -> dict[str, float]:
    kinds = {"zip": ("GET", f"/v1/submissions/{ids['flooder_version']}/evidence.zip", "nil"),
             "xlsx": ("GET", f"/v1/submissions/{ids['flooder_version']}.xlsx", "nil"),
             "push": ("POST", f"/v1/funding-requests/{ids['flooder_ref']}/submissions", f"[[{ids['flooder_rows']}]]")}
    requests = [kinds[kind] for kind in args.flood_with]
    key = ids["flooder_key"] if args.flood == "mixed" else "esms_cle-inconnue-du-service"
    script = FLOOD_LUA % {"requests": ", ".join(f'{{"{m}", "{p}", {b}}}' for m, p, b in requests), "key": key}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    out = subprocess.run(["wrk", "-t", "2", "-c", str(args.connections), "-d", f"{args.duration}s", "--timeout",
                          "30s", "-s", handle.name, base], capture_output=True, text=True, check=True).stdout
    os.unlink(handle.name)
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    refused = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"flood_requests": total, "flood_refused": int(refused.group(1)) if refused else 0}


def bench(backend: str, url: str, workers: int, limits: str, args: argparse.Namespace,
          work: Path) -> dict[str, object]:
    storage = work / f"proofs-{backend}-{limits.replace('/', '')[:10]}"
    env = {**os.environ, "SERVICE_DATABASE_URL": url, "SERVICE_STORAGE_DIR": str(storage),
           "SERVICE_SIGNING_DIR": str(work / "signing"), "SERVICE_LOG_DIR": str(work / "log")}
    if limits != "default":
        env["SERVICE_RATE_LIMITS"] = limits
    subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    proc, base = start_server("service.main:app", env, workers)
    try:
        ids = seed(base, env, args.proofs, int(args.megabytes * 1_000_000))
        path = f"/v1/submissions/{ids['victim_version']}"
        alone = Victim(base, ids["victim_key"], path, args.duration)
        alone.start()
        alone.join()
        size_before = database_bytes(url, storage)
        under = Victim(base, ids["victim_key"], path, args.duration)
        under.start()
        flooded = flood(base, ids, args)
        under.join()
        growth = database_bytes(url, storage) - size_before
    finally:
        stop(proc)
    result: dict[str, object] = {
        "backend": backend, "workers": workers, "limits": limits,
        "alone_p50": percentile(alone.latencies, 0.5), "alone_p99": percentile(alone.latencies, 0.99),
        "flood_p50": percentile(under.latencies, 0.5), "flood_p99": percentile(under.latencies, 0.99),
        "victim_requests": len(under.latencies), "victim_failures": under.failures + alone.failures,
        "database_growth_mb": growth / 1e6, **flooded}
    result["p50_ratio"] = float(result["flood_p50"]) / float(result["alone_p50"])  # type: ignore[arg-type]
    result["p99_ratio"] = float(result["flood_p99"]) / float(result["alone_p99"])  # type: ignore[arg-type]
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--proofs", type=int, default=3)
    parser.add_argument("--megabytes", type=float, default=3)
    parser.add_argument("--rounds", type=int, default=1,
                        help="runs of each case, each on a fresh server and database (the p99 of one run is noisy)")
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgresql"])
    parser.add_argument("--flood", choices=["mixed", "bad-key"], default="mixed",
                        help="mixed: the flooder's own key; bad-key: an unknown key (refused requests only)")
    parser.add_argument("--flood-with", nargs="+", choices=["zip", "xlsx", "push"], default=["zip", "xlsx", "push"],
                        help="what each flood connection asks in turn (default: all three)")
    parser.add_argument("--limits", nargs="+", default=["default", "off"],
                        help="SERVICE_RATE_LIMITS values to run (default: the service's own)")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is missing: apt-get install wrk", file=sys.stderr)
        return 2
    work = Path(tempfile.mkdtemp(prefix="esms-bench-abuse-"))
    results: list[dict[str, object]] = []
    cluster = PostgresCluster(durable=True).start() if "postgresql" in args.backends else None
    try:
        for r in range(args.rounds):
            for n, limits in enumerate(args.limits):
                for backend in args.backends:
                    if backend == "sqlite":
                        url = f"sqlite:///{work / f'abuse-{r}-{n}.sqlite3'}"
                        results.append(bench(backend, url, 1, limits, args, work))
                    else:
                        assert cluster is not None
                        results.append(bench(backend, cluster.create_database(f"abuse{r}x{n}"), 2, limits, args, work))
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"\nthe victim: GET its version, 20/s, one at a time; the flood ({args.flood}): {args.connections} "
          f"connections for {args.duration} s (evidence.zip of {args.proofs} × {args.megabytes} MB, .xlsx, push)\n")
    print(f"{'backend':<12}{'workers':>8}  {'limits':<10}{'alone p50':>10}{'p99':>8}{'flood p50':>10}{'p99':>8}"
          f"{'×p50':>7}{'×p99':>7}{'flood req':>10}{'429':>8}{'db +MB':>8}")
    for r in results:
        print(f"{r['backend']:<12}{r['workers']:>8}  {r['limits']:<10}{r['alone_p50']:>10.1f}{r['alone_p99']:>8.1f}"
              f"{r['flood_p50']:>10.1f}{r['flood_p99']:>8.1f}{r['p50_ratio']:>7.2f}{r['p99_ratio']:>7.2f}"
              f"{r['flood_requests']:>10}{r['flood_refused']:>8}{r['database_growth_mb']:>8.1f}")
    print("\nGoal: under the flood, the victim's p99 within 2× of its p99 alone (limits on).")
    print(f"Victim failures: {sum(int(r['victim_failures']) for r in results)}")  # type: ignore[call-overload]
    for backend in args.backends:
        for limits in args.limits:
            ratios = sorted(float(r["p99_ratio"]) for r in results  # type: ignore[arg-type]
                            if r["backend"] == backend and r["limits"] == limits)
            print(f"{backend}, limits {limits}: ×p99 median {statistics.median(ratios):.2f} over {len(ratios)} "
                  f"run(s) (from {ratios[0]:.2f} to {ratios[-1]:.2f})")
    save_results("abuse", results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
