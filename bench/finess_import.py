"""FINESS import benchmark: a generated extract of many establishments imported by the service,
against a bare ``csv`` parse of the same file plus a bulk insert of the same rows into the same
table, in the same run, on SQLite files.

    python bench/finess_import.py [--lines 100000 25000] [--runs 3]

For each size: wall time and peak resident memory of ``python -m service finess import FILE``
(a subprocess), and of the baseline (a subprocess too: read with ``csv``, keep the values the
registry stores of each ET record, ``executemany`` them in batches of 2 000 into the registry's
own table in a database migrated like the service's, commit); then the work proper of each, timed
inside its process once its modules are loaded (the service's run again on a fresh database).
Two sizes show whether memory stays flat in the file's size.
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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from service.domain import finess_extract, identifiers  # noqa: E402
from tests import factories  # noqa: E402
from tests.registry.extracts import Et, extract  # noqa: E402

#: The same rows into the same table: the service's ``registry_establishment`` in a database
#: migrated like the service's, the same 13 values per establishment (its région from a table of
#: départements given as argument, a snapshot's id twice), foreign keys on as the service has
#: them; no validation, no upsert, no snapshot bookkeeping, no audit.
BASELINE = r"""
import csv, json, sqlite3, sys, time
REGIONS = json.loads(sys.argv[3])
began = time.perf_counter()
db = sqlite3.connect(sys.argv[2])
db.execute("PRAGMA journal_mode=WAL"); db.execute("PRAGMA synchronous=FULL"); db.execute("PRAGMA foreign_keys=ON")
SNAPSHOT = db.execute("INSERT INTO finess_snapshot (sha256, extract_version, extracted_on, size, encoding,"
                      " establishments, added, closed, reopened, imported_at) VALUES ('', 1, '2026-11-30', 0,"
                      " 'cp1252', 0, 0, 0, 0, '2026-11-30 00:00:00')").lastrowid
INSERT = ("INSERT INTO registry_establishment (finess, finess_ej, name, long_name, department, region_code,"
          " category_code, category_label, siret, opened_on, updated_on, first_snapshot_id, last_seen_snapshot_id)"
          " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)")
with open(sys.argv[1], encoding="cp1252", newline="") as f:
    next(f)
    batch = []
    for r in csv.reader(f, delimiter=";"):
        if r and r[0] == "structureet":
            batch.append((r[1], r[2], r[3], r[4], r[13], REGIONS.get(r[13]), r[18], r[19], r[22], r[28], r[30],
                          SNAPSHOT, SNAPSHOT))
            if len(batch) >= 2000:
                db.executemany(INSERT, batch); batch = []
    db.executemany(INSERT, batch)
db.commit()
print("WORK_S", time.perf_counter() - began, file=sys.stderr)
"""
#: The baseline's third argument: the région of each département.
REGIONS = json.dumps({d: finess_extract.region_of_department(d) for d in (
    *identifiers.DEPARTMENT_REGION, *finess_extract.OVERSEAS_DEPARTMENTS)})

#: The command line's own import (``cmd_finess_import``: hash, then the use case in one
#: transaction), timed once the modules it loads are loaded.
SERVICE = r"""
import argparse, sys, time
import service.registry.imports  # what cmd_finess_import imports when called
from service.__main__ import cmd_finess_import
began = time.perf_counter()
assert cmd_finess_import(argparse.Namespace(file=sys.argv[1])) == 0
print("WORK_S", time.perf_counter() - began, file=sys.stderr)
"""


#: Runs a Python program (``-m module`` or ``-c code``) and prints its own peak resident size at
#: exit: VmHWM of its address space (getrusage would count the parent's pages copied at fork).
PEAK = r"""
import atexit, runpy, sys
def peak():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            print("PEAK_KIB", line.split()[1], file=sys.stderr)
atexit.register(peak)
kind, target, *rest = sys.argv[1:]
sys.argv = [target, *rest]
if kind == "-m":
    runpy.run_module(target, run_name="__main__", alter_sys=True)
else:
    exec(compile(target, "<baseline>", "exec"), {"__name__": "__main__"})
"""


def timed(command: list[str], env: dict[str, str]) -> tuple[float, float, float | None]:
    """Wall seconds, peak resident MiB and (if it prints it) the seconds of its work proper of a
    Python program (``-m module …`` or ``-c code …``)."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", PEAK, *command], cwd=ROOT, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(done.stdout + done.stderr)
    peak = next(line.split()[1] for line in done.stderr.splitlines() if line.startswith("PEAK_KIB"))
    work = next((float(line.split()[1]) for line in done.stderr.splitlines() if line.startswith("WORK_S")), None)
    return elapsed, int(peak) / 1024, work


def generate(path: Path, lines: int) -> None:
    departments = ["33", "24", "2A", "75", "69", "13", "59", "67"]

    def et(n: int) -> Et:
        if n % 100 == 0 and n < 100 * 9999:  # some overseas ones (their serial has four digits)
            return Et(factories.finess("9701", n // 100), f"EHPAD n° {n} « Bélair »", "9A")
        department = departments[n % len(departments)]
        return Et(factories.finess(department, n), f"EHPAD n° {n} « Les Œillets »", department)

    ets = [et(n) for n in range(1, lines + 1)]
    path.write_bytes(extract(ets, day="2026-11-30"))


def one_round(work: Path, extract_path: Path, name: str) -> tuple[float, ...]:
    """Service and baseline, each on a fresh database: wall s, peak MiB, work s (service, then baseline)."""
    env = {**os.environ, "SERVICE_LOG_DIR": str(work / "log"), "SERVICE_SIGNING_DIR": str(work / "signing")}
    for database in ("service", "bare", "work"):  # "work" last: the next run is on it
        env["SERVICE_DATABASE_URL"] = f"sqlite:///{work / f'{database}-{name}.sqlite3'}"
        subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, env=env, check=True,
                       capture_output=True)
    service_work = timed(["-c", SERVICE, str(extract_path)], env)[2]  # on the "work" database
    env["SERVICE_DATABASE_URL"] = f"sqlite:///{work / f'service-{name}.sqlite3'}"
    s_time, s_mem, _ = timed(["-m", "service", "finess", "import", str(extract_path)], env)
    b_time, b_mem, b_work = timed(["-c", BASELINE, str(extract_path), str(work / f"bare-{name}.sqlite3"), REGIONS], env)
    assert service_work is not None and b_work is not None
    return s_time, s_mem, service_work, b_time, b_mem, b_work


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, nargs="+", default=[100_000, 25_000])
    parser.add_argument("--runs", type=int, default=3, help="rounds per size (medians are printed)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="esms-bench-finess-"))
    results = []
    try:
        for lines in args.lines:
            extract_path = work / f"etalab-{lines}.csv"
            generate(extract_path, lines)
            rounds = [one_round(work, extract_path, f"{lines}-{n}") for n in range(args.runs)]
            # The median of each figure over the rounds: this machine's disk and CPU vary from one
            # second to the next.
            medians = [statistics.median(r[i] for r in rounds) for i in range(len(rounds[0]))]
            results.append((lines, extract_path.stat().st_size, *medians))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{'ET lines':>9}{'file MB':>9}{'service s':>11}{'bare s':>9}{'ratio':>7}{'service MiB':>13}{'bare MiB':>10}"
          f"{'work: service s':>17}{'bare s':>8}{'ratio':>7}")
    for lines, size, s_time, s_mem, s_work, b_time, b_mem, b_work in results:
        print(f"{lines:>9}{size / 1e6:>9.1f}{s_time:>11.2f}{b_time:>9.2f}{s_time / b_time:>7.2f}{s_mem:>13.0f}"
              f"{b_mem:>10.0f}{s_work:>17.2f}{b_work:>8.2f}{s_work / b_work:>7.2f}")
    print("\nGoal: ratio ≤ 1.5, memory flat in the file's size. The first ratio is of whole processes (the "
          "service's includes loading its modules, about 1 s, whatever the file); the second of the work "
          "proper, timed inside each process once its modules are loaded (the service: hashing the file, "
          "telling its encoding, parsing, upserting, closing, auditing, committing).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
