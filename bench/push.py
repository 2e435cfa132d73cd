"""Push benchmark: latency and throughput of a 1-row and a 50-row push, on SQLite and on
PostgreSQL, with 1 and more uvicorn workers, against a bare endpoint of the same framework
measured in the same run; and how long a committed event waits for its index in the log.

    python bench/push.py [--duration 10] [--connections 8] [--workers 1 2] [--rounds 1]
    python bench/push.py --mandates 10000 [...]

With ``--mandates N``, the 1-row push only, twice in each round: by a key of an éditeur mandated
for the 64 requests, and by a key of an éditeur mandated for those and N more (references of
requests not registered: each is a mandate all the same, read with the key); the ratio of the two
is the cost of an éditeur's size.

Needs ``wrk`` (Debian package). Each server is uvicorn with uvloop and httptools, the log's
sequencer at its default interval. The lag of an event is the time from its recording (in the
transaction of the push, so a little before the commit) to the signing of the first checkpoint
that includes it, read from the database after the run. ``cpu ms`` is the CPU time the server's
processes (workers, webhook deliverer) spent per request during the measured run.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402

from service.models import AuditEvent, LogCheckpoint  # noqa: E402
from tests.factories import finess  # noqa: E402
from tests.pg_cluster import PostgresCluster  # noqa: E402

REQUESTS = 64
WIDE = 50
#: One wrk thread per connection, each pushing in turn to its own share of the requests, as
#: independent clients do: two connections pushing to the same request at the same moment would
#: wait on its row lock (PostgreSQL) for as long as the other's transaction lasts, which no
#: vendor does. (Two threads rotating over all the requests drift into each other's place.)
LUA = """
local paths = {%(paths)s}
local bodies = {%(bodies)s}
local threads = 0
local i = 0
function setup(thread)
  thread:set("id", threads)
  threads = threads + 1
end
function init(args)
  count = math.max(1, math.floor(#paths / %(threads)d))
  first = (id * count) %% #paths
end
request = function()
  local k = first + (i %% count) + 1
  i = i + 1
  return wrk.format("%(method)s", paths[k], {
    ["Authorization"] = "Bearer %(key)s", ["Content-Type"] = "application/json"}, bodies[k])
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(app: str, env: dict[str, str], workers: int = 1) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    # the service as it is run (python -m service serve: uvicorn, uvloop, httptools, its bounds)
    command = [sys.executable, "-m", "service", "serve"] if app == "service.main:app" else [
        sys.executable, "-m", "uvicorn", app, "--loop", "uvloop", "--http", "httptools", "--no-access-log",
        "--log-level", "warning"]
    proc = subprocess.Popen([*command, "--port", str(port), "--workers", str(workers)],
                            cwd=ROOT, env=env, start_new_session=True, stderr=subprocess.DEVNULL)  # JSON log lines
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            urllib.request.urlopen(base + ("/bare" if "bare" in app else "/healthz"), timeout=1)
            return proc, base
        except OSError:
            time.sleep(0.1)
    stop(proc)
    raise RuntimeError(f"{app} did not start")


def stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


def call(base: str, method: str, path: str, key: str, body: object) -> dict[str, object]:
    request = urllib.request.Request(base + path, method=method, data=json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request) as response:
        return json.loads(response.read())  # type: ignore[no-any-return]


def cli_key(env: dict[str, str], *args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "service", "create-key", *args], cwd=ROOT, env=env,
                         check=True, capture_output=True, text=True).stdout
    return out.strip().splitlines()[-1]


def row(code: str) -> dict[str, object]:
    return {"finess": code, "raison_sociale": "EHPAD", "dmp_fed": 40, "mss_messages_sent": 120, "active_dui": 95,
            "persons_accompanied": 100, "dui_with_personal_plan": 90, "dui_with_agenda_event": 93,
            "period_start": "2024-01-01", "period_end": "2024-03-31"}


def seed(base: str, admin: str) -> dict[str, list[tuple[str, list[str]]]]:
    """64 one-establishment requests and 64 fifty-establishment requests, VA open."""
    serial = 1
    groups: dict[str, list[tuple[str, list[str]]]] = {"1": [], "50": []}
    for size, prefix in (("1", 10), ("50", 20)):
        for n in range(REQUESTS):
            ref = f"{prefix}{n:06d}"
            codes = []
            for _ in range(int(size)):
                codes.append(finess("33", serial))
                serial += 1
            call(base, "POST", "/v1/funding-requests", admin, {
                "galis_ref": ref, "siret": "73282932000074", "porteur_name": "Banc d'essai", "campaign_year": 2024,
                "establishments": [{"finess": c, "name": f"ESMS {c}", "category": "500"} for c in codes]})
            call(base, "POST", f"/v1/funding-requests/{ref}/events", admin, {"type": "va_validated",
                                                                           "date": "2024-03-01"})
            groups[size].append((ref, codes))
    return groups


def group_cpu_seconds(pgid: int) -> float:
    """CPU time (user + system) of every live process of the group ``pgid`` (a server started with
    ``start_new_session``: its workers and its webhook deliverer)."""
    total = 0
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def run_wrk(base: str, script: str, args: argparse.Namespace, server: int | None = None) -> dict[str, float]:
    """wrk's figures; with ``server`` (the server's process group), also the server's CPU per
    request over the measured run: steadier than req/s on a machine whose speed drifts."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    command = ["wrk", "-t", str(args.connections), "-c", str(args.connections), "-d", f"{args.duration}s",
               "--latency", "-s", handle.name, base]
    subprocess.run([*command[:5], "-d", "2s", *command[7:]], capture_output=True, check=True)  # warm-up
    cpu = group_cpu_seconds(server) if server is not None else 0.0
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    cpu = group_cpu_seconds(server) - cpu if server is not None else 0.0
    os.unlink(handle.name)

    def ms(label: str) -> float:
        match = re.search(rf"^\s*{label}\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        assert match, out
        value, unit = float(match.group(1)), match.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket_errors = re.search(r"Socket errors: .*", out)
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    return {"rps": rps, "p50": ms("50%"), "p99": ms("99%"), "errors": int(errors.group(1)) if errors else 0,
            "cpu_ms": 1000 * cpu / requests if server is not None and requests else 0.0,
            "socket_errors": socket_errors.group(0) if socket_errors else ""}  # type: ignore[dict-item]


def lua(paths: list[str], method: str, key: str, bodies: list[object] | None, threads: int) -> str:
    """A wrk script for ``threads`` threads, each rotating over its share of ``paths`` (each path
    with its own body, or none)."""
    literal = ", ".join(f"[[{json.dumps(b)}]]" for b in bodies) if bodies else ", ".join("nil" for _ in paths)
    return LUA % {"paths": ", ".join(f'"{p}"' for p in paths), "method": method, "key": key, "bodies": literal,
                  "threads": threads}


def index_lag(url: str, since: datetime) -> dict[str, float]:
    """Commit → index lag (ms) of the events recorded since ``since``, once all are sequenced."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            for _ in range(100):  # the sequencer catches up within its interval
                if not conn.execute(sa.text("SELECT count(*) FROM audit_event WHERE log_index IS NULL")).scalar_one():
                    break
                time.sleep(0.1)
            checkpoints = conn.execute(sa.select(LogCheckpoint.size, LogCheckpoint.signed_at)
                                       .order_by(LogCheckpoint.size)).all()
            events = conn.execute(sa.select(AuditEvent.log_index, AuditEvent.occurred_at)
                                  .where(AuditEvent.occurred_at >= since, AuditEvent.log_index.is_not(None))).all()
    finally:
        engine.dispose()
    sizes = [int(c.size) for c in checkpoints]
    lags = sorted((checkpoints[bisect.bisect_right(sizes, int(e.log_index))].signed_at - e.occurred_at)
                  .total_seconds() * 1000 for e in events)
    if not lags:
        return {"lag_p50": float("nan"), "lag_p99": float("nan"), "events": 0}
    return {"lag_p50": lags[len(lags) // 2], "lag_p99": lags[min(len(lags) - 1, int(len(lags) * 0.99))],
            "events": len(lags)}


def wait_sequenced(url: str) -> None:
    """Until the log's sequencer has indexed every event (a key's 10 000 mandates make as many
    events: they are sequenced before anything is measured, not during)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            for _ in range(600):
                if not conn.execute(sa.text("SELECT count(*) FROM audit_event WHERE log_index IS NULL")).scalar_one():
                    return
                time.sleep(0.1)
    finally:
        engine.dispose()


def lookup_ms(url: str, key: str, times: int = 30) -> float:
    """Median time of one key lookup (the key, its organisation and its mandates in force), as
    done on each cache miss (every ``SERVICE_API_KEY_CACHE_SECONDS`` per key and process)."""
    from sqlmodel import Session

    from service.access.keys import find_principal, hash_key

    engine = sa.create_engine(url)
    took = []
    try:
        with Session(engine) as session:
            for _ in range(times):
                began = time.perf_counter()
                found = find_principal(session, hash_key(key), datetime.now(UTC).date())
                took.append((time.perf_counter() - began) * 1000)
                assert found is not None
    finally:
        engine.dispose()
    return statistics.median(took)


#: The rate limits of a benchmark: every request counted, none refused (one key pushes thousands
#: a second, far beyond the service's default rate). What is measured is the service's capacity,
#: not one caller's share of it: the one key's connections are let through as if they were as
#: many callers (``FairShare`` holds one caller to 2 requests at once by default).
COUNTED = {"SERVICE_RATE_LIMITS": "default=1000000/s", "SERVICE_METRICS_TOKEN": "banc-d-essai-metriques-0123456789",
           "SERVICE_REQUESTS_PER_CALLER": "1000"}
#: … and neither counted nor measured: the baseline of --compare-limits.
UNCOUNTED = {"SERVICE_RATE_LIMITS": "off", "SERVICE_REQUESTS_PER_CALLER": "1000"}


def bench_service(name: str, url: str, args: argparse.Namespace, workers: int,
                  round_number: int = 0, settings: dict[str, str] | None = None,
                  suffix: str = "") -> list[dict[str, object]]:
    env = {**os.environ, "SERVICE_DATABASE_URL": url, **(COUNTED if settings is None else settings)}
    subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    admin = cli_key(env, "--role", "admin")
    proc, base = start_server("service.main:app", env, workers)
    try:
        groups = seed(base, admin)
        results = []
        for size in ("1",) if args.mandates else ("1", "50"):
            refs = [ref for ref, _ in groups[size]]
            keys = [("", cli_key(env, "--role", "vendor", "--galis-ref", *refs))]
            if args.mandates:
                others = [f"9{n:07d}" for n in range(args.mandates)]
                keys.append((f", {args.mandates} mandates", cli_key(env, "--role", "vendor", "--galis-ref", *refs,
                                                                    *others)))
                wait_sequenced(url)
                if round_number % 2:  # each order in turn: the later run meets a larger database
                    keys.reverse()
            for mandates_note, vendor in keys:
                # Each connection pushes in turn to its own share of the 64 requests (8 with 8
                # connections), each request with its own establishments.
                script = lua([f"/v1/funding-requests/{ref}/submissions" for ref, _ in groups[size]], "POST", vendor,
                             [{"milestone": "va", "rows": [row(c) for c in codes]} for _, codes in groups[size]],
                             args.connections)
                since = datetime.now(UTC)
                figures = run_wrk(base, script, args, server=proc.pid)
                results.append({"scenario": f"push {size} row(s){mandates_note}{suffix}", "backend": name,
                                "workers": workers,
                                **figures, **index_lag(url, since), "lookup_ms": lookup_ms(url, vendor)})
        return results
    finally:
        stop(proc)


def medians(runs: list[dict[str, object]]) -> list[dict[str, object]]:
    """One row per (scenario, backend, workers): the median of each figure over its runs."""
    groups: dict[tuple[object, ...], list[dict[str, object]]] = {}
    for run in runs:
        groups.setdefault((run["scenario"], run["backend"], run["workers"]), []).append(run)
    return [{**same[0], **{k: statistics.median(float(r[k]) for r in same)  # type: ignore[arg-type]
                           for k, v in same[0].items() if isinstance(v, (int, float)) and k != "workers"},
             "rounds": len(same)} for same in groups.values()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="uvicorn worker counts to run")
    parser.add_argument("--rounds", type=int, default=1,
                        help="times to run every scenario, in turn; each figure is the median over the rounds")
    parser.add_argument("--mandates", type=int, default=0,
                        help="compare the 1-row push by an éditeur of 64 mandates and by one of 64 + this many")
    parser.add_argument("--compare-limits", action="store_true",
                        help="each push with rate limits and metrics (every request counted, none refused) and "
                             "with neither; their ratio is what counting costs")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("wrk is missing: apt-get install wrk", file=sys.stderr)
        return 2

    proc, base = start_server("bench.bare_app:app", dict(os.environ))
    try:
        bare = {"scenario": "bare GET", "backend": "-", "workers": 1,
                **run_wrk(base, lua(["/bare"], "GET", "x", None, args.connections), args)}
    finally:
        stop(proc)

    runs: list[dict[str, object]] = []
    workdir = Path(tempfile.mkdtemp(prefix="esms-bench-"))
    try:
        cluster = PostgresCluster(durable=True).start()
        try:
            # Rounds in turn rather than one scenario's runs in a row: this machine's speed drifts
            # from one minute to the next, and each scenario then sees the same drifts.
            variants: list[tuple[str, dict[str, str] | None]] = [("", None)]
            if args.compare_limits:
                variants = [(", counted", COUNTED), (", uncounted", UNCOUNTED)]
            for n in range(args.rounds):
                for workers in args.workers:
                    for v, (suffix, settings) in enumerate(variants[::-1] if n % 2 else variants):
                        runs += bench_service("sqlite", f"sqlite:///{workdir / f'bench-{workers}-{n}-{v}.sqlite3'}",
                                              args, workers, n, settings, suffix)
                        runs += bench_service("postgresql", cluster.create_database(f"bench{workers}_{n}_{v}"), args,
                                              workers, n, settings, suffix)
        finally:
            cluster.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    results: list[dict[str, object]] = [bare, *medians(runs)]

    print(f"\n{args.connections} connections, {args.duration} s, medians of {args.rounds} round(s), "
          f"uvicorn (uvloop, httptools), {os.cpu_count()} cores shared by wrk, the workers and PostgreSQL\n")
    print(f"{'scenario':<34}{'backend':<12}{'workers':>8}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'errors':>8}"
          f"{'% bare':>8}{'p99×bare':>9}{'cpu ms':>8}{'lag p50':>9}{'lag p99':>9}")
    for r in results:
        ratio = 100 * float(r["rps"]) / float(bare["rps"])  # type: ignore[arg-type]
        tail = float(r["p99"]) / float(bare["p99"])  # type: ignore[arg-type]
        lag = f"{r['lag_p50']:>9.0f}{r['lag_p99']:>9.0f}" if "lag_p50" in r else ""
        cpu = f"{r['cpu_ms']:>8.2f}" if r.get("cpu_ms") else f"{'-':>8}"
        print(f"{r['scenario']:<34}{r['backend']:<12}{r['workers']:>8}{r['rps']:>9.0f}{r['p50']:>9.2f}"
              f"{r['p99']:>9.2f}{int(r['errors']):>8}{ratio:>7.1f}%{tail:>8.1f}×{cpu}{lag}")
    print("\nRatios (same run):")
    by = {(r["scenario"], r["backend"], r["workers"]): float(r["rps"]) for r in results}  # type: ignore[arg-type]
    if args.compare_limits:
        cpu = {(r["scenario"], r["backend"], r["workers"]): float(r["cpu_ms"]) for r in results}  # type: ignore[arg-type]
        for size in ("1", "50"):
            for backend in ("sqlite", "postgresql"):
                for workers in args.workers:
                    on, off = (f"push {size} row(s), counted", backend, workers), \
                        (f"push {size} row(s), uncounted", backend, workers)
                    print(f"  push {size} row(s), {backend}, {workers} worker(s): req/s counted / uncounted = "
                          f"{by[on] / by[off]:.3f}; cpu ms = {cpu[on] / cpu[off]:.3f}")
        print("\nGoal: rate limits and metrics cost at most 3 % of the push.")
        save_results("push-limits", results)
        return 0
    if args.mandates:
        for backend in ("sqlite", "postgresql"):
            for workers in args.workers:
                few = [r for r in results if r["backend"] == backend and r["workers"] == workers]
                rps = {str(r["scenario"]): float(r["rps"]) for r in few}  # type: ignore[arg-type]
                cpu = {str(r["scenario"]): float(r["cpu_ms"]) for r in few}  # type: ignore[arg-type]
                many = f"push 1 row(s), {args.mandates} mandates"
                lookup = {str(r["scenario"]): float(r["lookup_ms"]) for r in few}  # type: ignore[arg-type]
                print(f"  {backend}, {workers} worker(s): req/s with {args.mandates} mandates / with 64 = "
                      f"{rps[many] / rps['push 1 row(s)']:.3f}; cpu ms = {cpu[many] / cpu['push 1 row(s)']:.3f}; "
                      f"key lookup (cache miss) {lookup['push 1 row(s)']:.2f} → {lookup[many]:.2f} ms")
        print("\nGoal: an éditeur of 10 000 mandates pushes within 5 % of one of 64.")
        save_results("push-mandates", results)
        return 0
    for scenario in ("push 1 row(s)", "push 50 row(s)"):
        for workers in args.workers:
            pg, lite = by[(scenario, "postgresql", workers)], by[(scenario, "sqlite", workers)]
            print(f"  {scenario}, {workers} worker(s): PostgreSQL / SQLite = {pg / lite:.2f}")
        for backend in ("sqlite", "postgresql"):
            for workers in args.workers[1:]:
                ratio = by[(scenario, backend, workers)] / by[(scenario, backend, args.workers[0])]
                print(f"  {scenario}, {backend}: {workers} workers / {args.workers[0]} = {ratio:.2f}")
    print("\nGoals: PostgreSQL ≥ SQLite for a 1-row push; 2 workers ≥ 1.6 × 1; commit → index lag p99 < 1 s.")
    save_results("push", results)
    return 0


def save_results(name: str, results: list[dict[str, object]]) -> None:
    """``bench/results/<name>.json``."""
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
