"""National volume benchmark on PostgreSQL: ten years of the programme (30 000 FINESS in 10 000
requests, 1 000 000 versions of 3 rows, a control case each, a decision on all but the latest),
then the pages people open every day, through HTTP, against ``GET /healthz`` of the same server
in the same run (the framework's own round trip):

* the review queue of one ARS and the CNSA's control queue (first page of 50), with the
  ``EXPLAIN (ANALYZE, BUFFERS)`` of their main statement;
* the national statistics of a milestone (read off the maintained ``latest_rate`` table), one
  establishment against its peers, and one région's follow-up export (the server's
  resident memory sampled during the download);
* the console's pages (review queue, version, control queue, case, obligations): each under
  50 ms is the goal;
* the daily digests of every ARS (one agent each, the versions awaiting review in its région):
  under 5 s in all is the goal.

    python bench/volume.py [--requests 10000] [--versions 100] [--runs 30]

The data is written with ``COPY`` (not through the API: a million pushes would take hours), in
the shape the service writes it; ``VACUUM ANALYZE`` then, as autovacuum would in production.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import httpx  # noqa: E402
import psycopg  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from push import cli_key, start_server, stop  # noqa: E402
from sqlalchemy import event  # noqa: E402
from sqlmodel import Session  # noqa: E402
from stdnum import luhn  # noqa: E402

from service.control import use_cases as control  # noqa: E402
from service.domain import indicators  # noqa: E402
from service.domain.access import Principal, Role  # noqa: E402
from service.domain.identifiers import DEPARTMENT_REGION  # noqa: E402
from service.domain.lifecycle import Milestone  # noqa: E402
from service.domain.targets import DEFAULT_TARGETS  # noqa: E402
from service.kit.db import create_db_engine  # noqa: E402
from service.kit.mailing import Mailing  # noqa: E402
from service.kit.pagination import PageRequest  # noqa: E402
from service.models import Person  # noqa: E402
from service.notifications import events as told  # noqa: E402
from service.organisations import directory  # noqa: E402
from service.review import use_cases as reviews  # noqa: E402
from service.statistics import use_cases as peer_statistics  # noqa: E402
from tests.factories import finess  # noqa: E402
from tests.pg_cluster import PostgresCluster  # noqa: E402

ESTABLISHMENTS_PER_REQUEST = 3
REGION = "75"  # Nouvelle-Aquitaine: the ARS whose queue is timed
START = datetime(2016, 1, 4, 8, 0, tzinfo=UTC)


def siret(n: int) -> str:
    body = f"{n:013d}"
    return body + luhn.calc_check_digit(body)


def regions_and_departments() -> dict[str, list[str]]:
    by_region: dict[str, list[str]] = {}
    for department, region in DEPARTMENT_REGION.items():
        if len(department) == 2:  # the overseas FINESS départements (9A…) aside, for simple codes
            by_region.setdefault(region, []).append(department)
    return by_region


def build(url: str, requests: int, versions: int) -> dict[str, Any]:
    """Fill the database; what the timings need (ids, a porteur's SIRET)."""
    rng = random.Random(20261202)
    regions = regions_and_departments()
    region_codes = sorted(regions)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    per_milestone = versions // 2
    facts: dict[str, Any] = {}
    started = time.perf_counter()
    with psycopg.connect(dsn) as conn:
        with conn.cursor() as cur:
            with cur.copy("COPY funding_request (id, galis_ref, siret, porteur_name, campaign_year, region_code, "
                          "va_opened_on, fin_projet_opened_on, fin_projet_due_on, va_last_version, "
                          "fin_projet_last_version, created_at) FROM STDIN") as copy:
                for n in range(1, requests + 1):
                    region = region_codes[n % len(region_codes)]
                    copy.write_row((n, f"{10_000_000 + n}", siret(n), f"Porteur {n}", 2021 + n % 4, region,
                                    date(2016, 3, 1), date(2021, 9, 1), date(2026, 12, 31), per_milestone,
                                    per_milestone, START))
            serial = 0
            with cur.copy("COPY establishment (request_id, finess, name, category) FROM STDIN") as copy:
                codes: dict[int, list[str]] = {}
                category_of: dict[str, str] = {}
                for n in range(1, requests + 1):
                    region = region_codes[n % len(region_codes)]
                    department = regions[region][n % len(regions[region])]
                    codes[n] = []
                    for _ in range(ESTABLISHMENTS_PER_REQUEST):
                        serial += 1
                        code = finess(department, serial)
                        codes[n].append(code)
                        category_of[code] = ("500", "354", "183")[serial % 3]
                        copy.write_row((n, code, f"ESMS {code}", category_of[code]))
            print(f"  requests and establishments: {time.perf_counter() - started:.0f} s", flush=True)
            sub_rows = []
            undecided = {n for n in range(1, requests + 1) if n % 3 == 0}  # a third wait for the ARS
            with cur.copy("COPY submission (id, request_id, milestone, version, received_at, source, fingerprint, "
                          "row_count, targets_met, warnings, changed_at, awaiting_review, is_latest) FROM STDIN"
                          ) as copy:
                for n in range(1, requests + 1):
                    for m, milestone in enumerate(("va", "fin_projet")):
                        for v in range(1, per_milestone + 1):
                            at = START + timedelta(days=(m * per_milestone + v) * 3650 // versions,
                                                   minutes=n % 1440)
                            sid = str(uuid.UUID(int=rng.getrandbits(128), version=4))
                            copy.write_row((sid, n, milestone, v, at, "json", f"{rng.getrandbits(256):064x}",
                                            ESTABLISHMENTS_PER_REQUEST, rng.random() < 0.7, "[]", at,
                                            v == per_milestone and n in undecided, v == per_milestone))
                            sub_rows.append((sid, n, milestone, v, at))
            print(f"  {len(sub_rows)} versions: {time.perf_counter() - started:.0f} s", flush=True)
            latest: list[tuple[Any, ...]] = []
            with cur.copy("COPY submission_row (submission_id, row_number, finess, raison_sociale, dmp_fed, "
                          "mss_messages_sent, active_dui, persons_accompanied, dui_with_personal_plan, "
                          "dui_with_agenda_event, period_start, period_end, target_set_id) FROM STDIN") as copy:
                for sid, n, _milestone, v, at in sub_rows:
                    for k, code in enumerate(codes[n]):
                        persons = 40 + (n * 7 + k) % 160
                        active = persons - (v + k) % 10
                        plan = active - (n + v) % 8
                        agenda = active - (n + k) % 6
                        copy.write_row((sid, k + 1, code, f"ESMS {code}", plan * 7 // 10, plan, active, persons, plan,
                                        agenda, date(at.year, 1, 1), date(at.year, 3, 31), DEFAULT_TARGETS.id))
                        if v == per_milestone:  # what the push keeps for the statistics
                            counts = {"dmp_fed": plan * 7 // 10, "mss_messages_sent": plan, "active_dui": active,
                                      "persons_accompanied": persons, "dui_with_personal_plan": plan,
                                      "dui_with_agenda_event": agenda}
                            latest.append(peer_statistics.rate_values(
                                request_id=n, region_code=region_codes[n % len(region_codes)],
                                milestone=Milestone(_milestone), submission_id=sid, version=v, finess=code,
                                category=category_of[code], evaluation=indicators.evaluate(counts, DEFAULT_TARGETS)))
            with cur.copy(f"COPY latest_rate ({', '.join(peer_statistics.RATE_NAMES)}) FROM STDIN") as copy:
                for values in latest:
                    copy.write_row(values)
            print(f"  rows: {time.perf_counter() - started:.0f} s", flush=True)
            with cur.copy("COPY control_case (id, submission_id, request_id, region_code, milestone, version, score, "
                          "reasons, status, opened_at, outcome, closed_at) FROM STDIN") as c_copy:
                for sid, n, milestone, v, at in sub_rows:
                    latest = v == per_milestone
                    c_copy.write_row((str(uuid.UUID(int=rng.getrandbits(128), version=4)), sid, n,
                                      region_codes[n % len(region_codes)], milestone, v, rng.randrange(0, 101), "[]",
                                      "open" if latest else "closed", at, None if latest else "compliant",
                                      None if latest else at + timedelta(days=2)))
            with cur.copy("COPY review (id, submission_id, request_id, milestone, decision, comment, decided_at) "
                          "FROM STDIN") as r_copy:
                for sid, n, milestone, v, at in sub_rows:
                    if v == per_milestone and n in undecided:
                        continue
                    decision = "accepted" if v == per_milestone else "changes_requested"
                    r_copy.write_row((str(uuid.UUID(int=rng.getrandbits(128), version=4)), sid, n, milestone, decision,
                                      None if decision == "accepted" else "Précisez la période.",
                                      at + timedelta(days=1)))
            cur.execute("SELECT setval(pg_get_serial_sequence('funding_request', 'id'), %s)", (requests,))
            facts["version"] = next(sid for sid, n, milestone, v, _ in sub_rows
                                    if region_codes[n % len(region_codes)] == REGION and v == per_milestone
                                    and n in undecided)
            facts["siret"] = siret(3)
            facts["finess"] = codes[3][0]
            facts["porteur_ref"] = "10000003"
        conn.commit()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    facts["build_s"] = round(time.perf_counter() - started, 1)
    facts["versions"] = len(sub_rows)
    return facts


def explain(url: str, what: str, call: Any) -> str:
    """The plan of the slowest statement ``call`` issues, run again under EXPLAIN ANALYZE."""
    engine = sa.create_engine(url)
    seen: list[tuple[float, str, Any]] = []

    @event.listens_for(engine, "before_cursor_execute")
    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        conn.info["t"] = time.perf_counter()

    @event.listens_for(engine, "after_cursor_execute")
    def after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        seen.append((time.perf_counter() - conn.info["t"], statement, parameters))

    with Session(engine) as session:
        call(session)
    slowest = max(seen, key=lambda s: s[0])
    with engine.connect() as conn:
        raw = conn.connection.driver_connection  # type: ignore[union-attr]
        with raw.cursor() as cur:
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + slowest[1], slowest[2])
            plan = "\n".join(r[0] for r in cur.fetchall())
    engine.dispose()
    return f"{what}: {len(seen)} statements, slowest {slowest[0] * 1000:.1f} ms\n{plan}"


def timed(client: httpx.Client, path: str, runs: int, **kw: Any) -> dict[str, float]:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        response = client.get(path, **kw)
        times.append((time.perf_counter() - began) * 1000)
        assert response.status_code == 200, (path, response.status_code, response.text[:300])
    times.sort()
    return {"p50": round(statistics.median(times), 2), "p90": round(times[int(len(times) * 0.9)], 2),
            "max": round(times[-1], 2)}


def rss_kib(pid: int, *, pool: bool = False) -> int:
    """The resident memory of the server and its children, in KiB: the processes that answer
    requests, or (``pool``) the writers' pool that the first costly file starts (multiprocessing's
    fork server and resource tracker; the pool's own processes are the fork server's children),
    its shared pages counted once (PSS)."""
    total = 0
    processes = [pid, *map(int, subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
                           .stdout.split())]
    for child in processes:
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
            if (b"multiprocessing." in command) != pool:
                continue
            for grandchild in subprocess.run(["pgrep", "-P", str(child)], capture_output=True,
                                             text=True).stdout.split() if pool else []:
                total += _memory(int(grandchild), "Pss:")
            total += _memory(child, "Pss:" if pool else "VmRSS:")
        except FileNotFoundError:
            pass
    return total


def _memory(pid: int, field: str) -> int:
    """``VmRSS:`` (resident) from its status, or ``Pss:`` (resident, the pages shared with other
    processes counted in proportion) from its smaps_rollup, in KiB."""
    try:
        source = "status" if field == "VmRSS:" else "smaps_rollup"
        for line in Path(f"/proc/{pid}/{source}").read_text().splitlines():
            if line.startswith(field):
                return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def console_client(base: str, key: str) -> httpx.Client:
    import re
    client = httpx.Client(base_url=base, timeout=120)
    form = client.get("/console/connexion").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
    assert client.post("/console/connexion", data={"csrf_token": token, "api_key": key}).status_code == 303
    return client


def digests(url: str) -> dict[str, Any]:
    """The daily digests of every ARS: one agent in each, the digests of a working morning queued
    in one transaction (rolled back), timed."""
    engine = create_db_engine(url, pool_size=1, write=True)
    try:
        with Session(engine) as session:
            for region in sorted(regions_and_departments()):
                org = directory.ars_of(session, region)
                session.add(Person(organisation_id=org.id, email=f"agent.{region}@ars.example"))
            session.flush()
            started = time.perf_counter()
            queued = told.queue_digests(session, datetime(2026, 12, 8, 8, 30, tzinfo=UTC),
                                        mailing=Mailing("https://esms.example", "Europe/Paris", 9))
            seconds = time.perf_counter() - started
            listed = session.execute(sa.text("SELECT count(*) FROM mail_message")).scalar_one()
            session.rollback()
    finally:
        engine.dispose()
    return {"digests": queued, "mails": listed, "seconds": round(seconds, 3)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--versions", type=int, default=100, help="versions per request (half VA, half fin de projet)")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    cluster = PostgresCluster(durable=True).start()
    results: dict[str, Any] = {}
    try:
        url = cluster.create_database("volume")
        # console cookies without Secure: the benchmark reaches the console over plain http; the
        # rate limits out of the way (30 timed calls of a statistics page are past its class's rate)
        env = {**os.environ, "SERVICE_DATABASE_URL": url, "SERVICE_WEBHOOKS_DELIVERER": "off",
               "SERVICE_PUBLIC_URL": "http://127.0.0.1", "SERVICE_RATE_LIMITS": "off"}
        subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, env=env, check=True,
                       capture_output=True)
        print("building the data…", flush=True)
        facts = build(url, args.requests, args.versions)
        results["data"] = {"requests": args.requests, "finess": args.requests * ESTABLISHMENTS_PER_REQUEST,
                           "versions": facts["versions"], "build_s": facts["build_s"]}
        ars_principal = Principal(key_id=0, role=Role.ARS_REVIEWER, region_code=REGION)
        cnsa_principal = Principal(key_id=0, role=Role.CNSA_AUDITOR)
        plans = [
            explain(url, "review queue (ARS 75)", lambda s: reviews.review_queue(
                s, ars_principal, PageRequest(50, None), today=date.today())),
            explain(url, "control queue (national)", lambda s: control.control_queue(
                s, cnsa_principal, PageRequest(50, None), region_code=None, milestone=None, status=None)),
            explain(url, "national statistics (fin de projet)", lambda s: peer_statistics.indicator_statistics(
                s, cnsa_principal, milestone=Milestone.FIN_PROJET, group_by="region")),
        ]
        keys = {role: cli_key(env, "--role", role, *scope) for role, scope in (
            ("ars_reviewer", ("--region", REGION)), ("cnsa_auditor", ()), ("porteur", ("--siret", facts["siret"])))}
        proc, base = start_server("service.main:app", env)
        try:
            timings: dict[str, dict[str, float]] = {}
            with httpx.Client(base_url=base, timeout=300) as client:
                ars = {"Authorization": f"Bearer {keys['ars_reviewer']}"}
                cnsa = {"Authorization": f"Bearer {keys['cnsa_auditor']}"}
                timings["GET /healthz (baseline)"] = timed(client, "/healthz", args.runs)
                timings["review queue, ARS 75"] = timed(client, "/v1/review-queue", args.runs, headers=ars)
                timings["control queue, national"] = timed(client, "/v1/control-queue", args.runs, headers=cnsa)
                case_id = client.get("/v1/control-queue", headers=cnsa).json()["items"][0]["id"]
                timings["national statistics (fin de projet)"] = timed(
                    client, "/v1/statistics/indicators", args.runs, headers=cnsa,
                    params={"milestone": "fin_projet", "group_by": "region"})
                timings["an establishment against its peers"] = timed(
                    client, f"/v1/establishments/{facts['finess']}/comparison", args.runs, headers=cnsa,
                    params={"milestone": "fin_projet"})
                before = rss_kib(proc.pid)
                peak = [before]
                sampling = threading.Event()

                def sample() -> None:
                    while not sampling.wait(0.02):
                        peak.append(rss_kib(proc.pid))

                sampler = threading.Thread(target=sample)
                sampler.start()
                began = time.perf_counter()
                size = 0
                with client.stream("GET", "/v1/exports/follow-up.xlsx", headers=ars) as response:
                    assert response.status_code == 200
                    for chunk in response.iter_bytes():
                        size += len(chunk)
                export_s = time.perf_counter() - began
                sampling.set()
                sampler.join()
                results["follow_up_export"] = {"seconds": round(export_s, 2), "bytes": size,
                                               "rss_growth_mib": round((max(peak) - before) / 1024, 1),
                                               "writers_pool_mib": round(rss_kib(proc.pid, pool=True) / 1024, 1)}
            page = console_client(base, keys["ars_reviewer"])
            timings["console: review queue"] = timed(page, "/console/examen", args.runs)
            timings["console: version"] = timed(page, f"/console/versions/{facts['version']}", args.runs)
            page.close()
            page = console_client(base, keys["cnsa_auditor"])
            timings["console: control queue"] = timed(page, "/console/controle", args.runs)
            timings["console: case"] = timed(page, f"/console/dossiers/{case_id}", args.runs)
            page.close()
            page = console_client(base, keys["porteur"])
            timings["console: obligations"] = timed(page, "/console/obligations", args.runs)
            timings["console: versions of a request"] = timed(page, f"/console/demandes/{facts['porteur_ref']}",
                                                              args.runs)
            page.close()
            results["timings_ms"] = timings
        finally:
            stop(proc)
        results["digests"] = digests(url)
    finally:
        cluster.stop()

    base_p50 = results["timings_ms"]["GET /healthz (baseline)"]["p50"]
    print(f"\n{results['data']['finess']} FINESS, {results['data']['requests']} requests, "
          f"{results['data']['versions']} versions (built in {results['data']['build_s']} s), PostgreSQL, "
          f"uvicorn 1 worker, {os.cpu_count()} cores\n")
    print(f"{'call':<40}{'p50 ms':>9}{'p90 ms':>9}{'max ms':>9}{'× healthz':>11}")
    for name, t in results["timings_ms"].items():
        print(f"{name:<40}{t['p50']:>9.1f}{t['p90']:>9.1f}{t['max']:>9.1f}{t['p50'] / base_p50:>11.1f}")
    e = results["follow_up_export"]
    print(f"\nfollow-up export of région {REGION}: {e['bytes']} bytes in {e['seconds']} s, "
          f"server RSS +{e['rss_growth_mib']} MiB (the writers' pool it started: {e['writers_pool_mib']} MiB "
          "PSS)")
    d = results["digests"]
    print(f"daily digests of every ARS (one agent each): {d['digests']} digests queued in {d['seconds']} s")
    print("\nGoals: queues p50 < 20 ms; console pages < 50 ms; the digests of every ARS < 5 s.\n")
    for plan in plans:
        print(plan, "\n")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "volume.json").write_text(json.dumps({**results, "plans": plans}, indent=2, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
