"""Evidence bundle benchmark: one version with many large proofs, its BagIt ZIP fetched over HTTP,
against Python's ``zipfile`` writing the same files (stored, not deflated) in the same run.

    python bench/evidence.py [--proofs 50] [--megabytes 20] [--runs 3]

The service runs under uvicorn (1 worker) on a SQLite file; the proofs are uploaded through the
API (valid PDFs of the given size, distinct bytes). Reported: the median time of ``--runs``
downloads of ``GET /v1/submissions/{id}/evidence.zip`` written to a file, the median time of
``zipfile`` writing the proofs' stored files to a file, their ratio, and the growth of the
server's resident memory during the downloads (sampled every 20 ms) over its size before. The
last bag is then extracted and validated with ``bagit``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import bagit  # noqa: E402
import httpx  # noqa: E402
from push import call, cli_key, start_server, stop  # noqa: E402

from tests.factories import finess  # noqa: E402

REF = "31000001"


def big_pdf(serial: int, size: int) -> bytes:
    """A one-page PDF of about ``size`` bytes: its page content is a long hex comment."""
    filler_len = max(0, size - 600)
    seed = hashlib.sha256(str(serial).encode()).hexdigest().encode()
    filler = (seed * (filler_len // len(seed) + 1))[:filler_len]
    content = b"%" + filler + b"\nBT /F1 12 Tf 72 760 Td (Rapport d'usage) Tj ET\n"
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R >>",
               b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream"]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Sampler(threading.Thread):
    """The highest resident size of ``pid`` while running."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            self.peak = max(self.peak, rss_kib(self.pid))
            time.sleep(0.02)


def upload_proofs(base: str, key: str, version: str, codes: list[str], size: int) -> None:
    """One PDF proof of about ``size`` bytes per establishment of ``version``, through the API."""
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=120) as client:
        for n, code in enumerate(codes):
            uploaded = client.post(f"/v1/submissions/{version}/proofs", files={
                "file": ("rapport.pdf", big_pdf(n, size), "application/pdf")}, data={
                "finess": code, "measured_on": "2024-04-02", "period_start": "2024-01-01",
                "period_end": "2024-03-31", "signed_by": "Marie Dupont, directrice"})
            assert uploaded.status_code == 201, uploaded.text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--proofs", type=int, default=50)
    parser.add_argument("--megabytes", type=float, default=20)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    size = min(int(args.megabytes * 1_000_000), 20_000_000)  # the service's largest proof

    work = Path(tempfile.mkdtemp(prefix="esms-bench-evidence-"))
    env = {**os.environ, "SERVICE_DATABASE_URL": f"sqlite:///{work / 'bench.sqlite3'}",
           "SERVICE_STORAGE_DIR": str(work / "proofs"), "SERVICE_SIGNING_DIR": str(work / "signing"),
           "SERVICE_LOG_DIR": str(work / "log")}
    import subprocess

    subprocess.run([sys.executable, "-m", "alembic", "upgrade", "head"], cwd=ROOT, env=env, check=True,
                   capture_output=True)
    admin = cli_key(env, "--role", "admin")
    cnsa = cli_key(env, "--role", "cnsa_auditor")
    proc, base = start_server("service.main:app", env)
    try:
        codes = [finess("31", n + 1) for n in range(args.proofs)]
        call(base, "POST", "/v1/funding-requests", admin, {
            "galis_ref": REF, "siret": "73282932000074", "porteur_name": "Banc d'essai", "campaign_year": 2024,
            "establishments": [{"finess": c, "name": f"ESMS {c}", "category": "500"} for c in codes]})
        call(base, "POST", f"/v1/funding-requests/{REF}/events", admin, {"type": "va_validated", "date": "2024-03-01"})
        rows = [{"finess": c, "raison_sociale": f"ESMS {c}", "dmp_fed": 40, "mss_messages_sent": 120,
                 "active_dui": 95, "persons_accompanied": 100, "dui_with_personal_plan": 90,
                 "dui_with_agenda_event": 93, "period_start": "2024-01-01", "period_end": "2024-03-31"} for c in codes]
        version = call(base, "POST", f"/v1/funding-requests/{REF}/submissions", admin,
                       {"milestone": "va", "rows": rows})["id"]
        started = time.perf_counter()
        upload_proofs(base, admin, version, codes, size)
        print(f"{args.proofs} proofs of {size:,} bytes uploaded in {time.perf_counter() - started:.1f} s")
        time.sleep(1.5)  # the log sequences the events

        bag_file = work / "bundle.zip"
        service_times, growths = [], []
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {cnsa}"}, timeout=600) as client:
            for _ in range(args.runs):
                before = rss_kib(proc.pid)
                sampler = Sampler(proc.pid)
                sampler.start()
                started = time.perf_counter()
                with client.stream("GET", f"/v1/submissions/{version}/evidence.zip") as response, \
                        bag_file.open("wb") as out:
                    assert response.status_code == 200, response.read()
                    for chunk in response.iter_raw(1 << 20):
                        out.write(chunk)
                service_times.append(time.perf_counter() - started)
                sampler.stop.set()
                sampler.join()
                growths.append((max(sampler.peak, rss_kib(proc.pid)) - before) / 1024)

        objects = sorted((work / "proofs" / "objects").glob("??/*"))
        baseline_file = work / "baseline.zip"
        baseline_times = []
        for _ in range(args.runs):
            started = time.perf_counter()
            with zipfile.ZipFile(baseline_file, "w", zipfile.ZIP_STORED) as archive:
                for path in objects:
                    archive.write(path, f"data/proofs/{path.parent.name}{path.name}.pdf")
            baseline_times.append(time.perf_counter() - started)

        bag_dir = work / "extracted"
        with zipfile.ZipFile(bag_file) as archive:
            archive.extractall(bag_dir)
        (top,) = list(bag_dir.iterdir())
        bagit.Bag(str(top)).validate(fast=False)
    finally:
        stop(proc)

    service_s, baseline_s = statistics.median(service_times), statistics.median(baseline_times)
    print(f"bundle: {bag_file.stat().st_size / 1e6:,.0f} MB, {len(objects)} proofs; bag valid (bagit)")
    print(f"service  GET evidence.zip over HTTP: median {service_s:.2f} s  (runs: "
          f"{', '.join(f'{t:.2f}' for t in service_times)})")
    print(f"baseline zipfile, stored, same files: median {baseline_s:.2f} s  (runs: "
          f"{', '.join(f'{t:.2f}' for t in baseline_times)})")
    print(f"ratio service / baseline: {service_s / baseline_s:.2f}  (goal ≤ 1.5)")
    print(f"server resident memory growth during a download: max {max(growths):.1f} MiB  (goal < 64 MiB)")
    import shutil

    shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
