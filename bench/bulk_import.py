"""Bulk import benchmark: the whole programme (30 000 rows) in one CNSA template file.

    python bench/bulk_import.py [--rows 30000] [--repeat 3]

For SQLite and PostgreSQL: the end-to-end time of ``POST …/submissions`` with the file
(multipart upload over HTTP to uvicorn, container checks, parse, template and declaration
rules, rates, storage, commit), against a baseline measured in the same run on the same
database: the bare parse of the same file with python-calamine plus a bulk insert of the same
rows in one transaction. Also the bare parse with openpyxl's read-only mode, the other
candidate reader. Peak memory is the growth of the resident set during the measured step.
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
from datetime import date
from pathlib import Path

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.push import call, cli_key, start_server, stop  # noqa: E402
from service.domain.template import SHEET_NAME, TEMPLATE_COLUMNS  # noqa: E402
from tests.factories import finess  # noqa: E402
from tests.pg_cluster import PostgresCluster  # noqa: E402

GALIS = "30000000"
SIRET = "73282932000074"
#: Départements of one region (Auvergne-Rhône-Alpes), so the grappe is one ARS's.
DEPARTMENTS = ("01", "03", "07", "15", "26", "38", "42", "43", "63", "69", "73", "74")


def codes(rows: int) -> list[str]:
    return [finess(DEPARTMENTS[n % len(DEPARTMENTS)], 100 + n) for n in range(rows)]


def write_file(path: Path, finess_codes: list[str]) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(SHEET_NAME)
    ws.append([label for _, _, label in TEMPLATE_COLUMNS])

    def text(value: str) -> WriteOnlyCell:
        cell = WriteOnlyCell(ws, value=value)
        cell.number_format = "@"
        return cell

    for n, code in enumerate(finess_codes):
        active = 80 + n % 20
        ws.append([text(GALIS), text(SIRET), text(code), f"Établissement médico-social n° {n + 1}",
                   30 + n % 10, 100 + n % 50, active, 100, active - 5, active - 2,
                   date(2024, 1, 1), date(2024, 3, 31)])
    wb.save(path)


def rss_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(field)


def seed(env: dict[str, str], url: str, base: str, admin: str, finess_codes: list[str]) -> None:
    """The request through the API (first establishment), the rest in bulk: the API takes at
    most 5 000 establishments per request, a limit the benchmark deliberately goes beyond."""
    call(base, "POST", "/v1/funding-requests", admin, {
        "galis_ref": GALIS, "siret": SIRET, "porteur_name": "Programme entier", "campaign_year": 2024,
        "establishments": [{"finess": finess_codes[0], "name": "ESMS 1", "category": "500"}]})
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        request_id = conn.execute(sa.text("SELECT id FROM funding_request WHERE galis_ref = :g"), {"g": GALIS}).scalar()
        conn.execute(sa.text("INSERT INTO establishment (request_id, finess, name, category) "
                             "VALUES (:r, :f, :n, '500')"),
                     [{"r": request_id, "f": code, "n": f"ESMS {code}"} for code in finess_codes[1:]])
    engine.dispose()
    call(base, "POST", f"/v1/funding-requests/{GALIS}/events", admin, {"type": "va_validated", "date": "2024-03-01"})


def measure_import(name: str, url: str, path: Path, finess_codes: list[str], repeat: int) -> dict[str, float]:
    env = {**os.environ, "SERVICE_DATABASE_URL": url, "SERVICE_MAX_ROWS": str(len(finess_codes))}
    subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    admin = cli_key(env, "--role", "admin")
    proc, base = start_server("service.main:app", env)
    try:
        seed(env, url, base, admin, finess_codes)
        content = path.read_bytes()
        times, peaks = [], []
        with httpx.Client(base_url=base, timeout=600) as client:
            for _ in range(repeat):
                Path(f"/proc/{proc.pid}/clear_refs").write_text("5")  # reset the peak resident set
                before = rss_kib(proc.pid, "VmRSS")
                start = time.perf_counter()
                response = client.post(f"/v1/funding-requests/{GALIS}/submissions", data={"milestone": "va"},
                                       files={"file": (f"mesures-usage-{GALIS}.xlsx", content)},
                                       headers={"Authorization": f"Bearer {admin}"})
                times.append(time.perf_counter() - start)
                assert response.status_code == 201, response.text[:2000]
                assert response.json()["source"] == "xlsx" and len(response.json()["rows"]) == len(finess_codes)
                peaks.append((rss_kib(proc.pid, "VmHWM") - before) / 1024)
        return {"seconds": statistics.median(times), "best": min(times), "peak_mib": max(peaks)}
    finally:
        stop(proc)


def baseline_child(url: str, path: Path, reader: str) -> dict[str, float]:
    """Bare parse of the file plus, for calamine, a bulk insert of the rows in one transaction."""
    engine = sa.create_engine(url)
    metadata = sa.MetaData()
    table = sa.Table("bench_row", metadata, sa.Column("id", sa.Integer, primary_key=True),
                     sa.Column("submission_id", sa.String(36)), sa.Column("row_number", sa.Integer),
                     sa.Column("finess", sa.String(9)), sa.Column("raison_sociale", sa.String(300)),
                     *(sa.Column(c, sa.Integer) for c in ("e", "f", "g", "h", "i", "j")),
                     sa.Column("period_start", sa.Date), sa.Column("period_end", sa.Date),
                     sa.Column("target_set_id", sa.String(40)))
    metadata.drop_all(engine)
    metadata.create_all(engine)
    pid = os.getpid()
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset the peak resident set
    before = rss_kib(pid, "VmRSS")
    start = time.perf_counter()
    if reader == "openpyxl":
        from openpyxl import load_workbook

        book = load_workbook(path, read_only=True, data_only=True)
        rows = [list(r) for r in book[SHEET_NAME].iter_rows(min_row=2, values_only=True)]
        book.close()
        parse = time.perf_counter() - start
        return {"seconds": parse, "parse": parse, "peak_mib": 0.0, "rows": len(rows)}
    import python_calamine

    book = python_calamine.CalamineWorkbook.from_path(str(path))
    rows = list(book.get_sheet_by_name(SHEET_NAME).iter_rows())[1:]
    book.close()
    parse = time.perf_counter() - start
    with engine.begin() as conn:
        conn.execute(sa.insert(table), [
            {"submission_id": "bench", "row_number": n + 2, "finess": r[2], "raison_sociale": r[3],
             "e": int(r[4]), "f": int(r[5]), "g": int(r[6]), "h": int(r[7]), "i": int(r[8]), "j": int(r[9]),
             "period_start": r[10], "period_end": r[11], "target_set_id": "instruction-2024-15"}
            for n, r in enumerate(rows)])
    seconds = time.perf_counter() - start
    peak = (rss_kib(pid, "VmHWM") - before) / 1024
    metadata.drop_all(engine)
    return {"seconds": seconds, "parse": parse, "peak_mib": peak, "rows": len(rows)}


def measure_baseline(url: str, path: Path, repeat: int, reader: str = "calamine") -> dict[str, float]:
    runs = []
    for _ in range(repeat):
        out = subprocess.run([sys.executable, __file__, "--child", reader, "--url", url, "--file", str(path)],
                             cwd=ROOT, check=True, capture_output=True, text=True).stdout
        runs.append(json.loads(out.strip().splitlines()[-1]))
    return {"seconds": statistics.median(r["seconds"] for r in runs),
            "parse": statistics.median(r["parse"] for r in runs),
            "peak_mib": max(r["peak_mib"] for r in runs)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=30_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--child", choices=["calamine", "openpyxl"])
    parser.add_argument("--url")
    parser.add_argument("--file", type=Path)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(baseline_child(args.url, args.file, args.child)))
        return 0

    workdir = Path(tempfile.mkdtemp(prefix="esms-bulk-"))
    results = []
    try:
        finess_codes = codes(args.rows)
        path = workdir / f"mesures-usage-{GALIS}.xlsx"
        write_file(path, finess_codes)
        size = path.stat().st_size
        openpyxl_parse = measure_baseline(f"sqlite:///{workdir / 'scratch.sqlite3'}", path, 1, "openpyxl")
        cluster = PostgresCluster(durable=True).start()
        try:
            for name, url in (("sqlite", f"sqlite:///{workdir / 'bench.sqlite3'}"),
                              ("postgresql", cluster.create_database("bulk"))):
                baseline = measure_baseline(url, path, args.repeat)
                imported = measure_import(name, url, path, finess_codes, args.repeat)
                results.append({"backend": name, "import": imported, "baseline": baseline,
                                "ratio": imported["seconds"] / baseline["seconds"]})
        finally:
            cluster.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    print(f"\n{args.rows} rows, file of {size / 1e6:.2f} MB; median of {args.repeat} runs\n")
    print(f"bare parse, openpyxl read-only: {openpyxl_parse['parse']:.2f} s")
    print(f"bare parse, python-calamine:    {results[0]['baseline']['parse']:.2f} s\n")
    print(f"{'backend':<12}{'import s':>10}{'best s':>9}{'peak MiB':>10}{'baseline s':>12}"
          f"{'base MiB':>10}{'ratio':>8}")
    for r in results:
        i, b = r["import"], r["baseline"]
        print(f"{r['backend']:<12}{i['seconds']:>10.2f}{i['best']:>9.2f}{i['peak_mib']:>10.0f}"
              f"{b['seconds']:>12.2f}{b['peak_mib']:>10.0f}{r['ratio']:>8.2f}")
    print("\nBaseline: bare parse with python-calamine + one-transaction insert of the same rows, same database.")
    print("Goal: < 5 s on SQLite, < 3 s on PostgreSQL, ratio ≤ 2.")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "bulk_import.json").write_text(json.dumps({"rows": args.rows, "file_bytes": size,
                                                      "openpyxl_parse": openpyxl_parse, "results": results},
                                                     indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
