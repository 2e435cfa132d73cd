"""PDF summary benchmark: time per report for 1, 50 and 300 FINESS, unsigned and signed.

    python bench/pdf.py [--repeat 20]

Renders the service's report from a view-model (no database) and signs it with a development
key (EC P-256) as the service does; the baseline, measured in the same run, is reportlab alone
laying out a plain table of the same cells (no styles, no paragraphs, no fonts to embed).
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from reportlab.lib.pagesizes import A4, landscape  # noqa: E402
from reportlab.platypus import LongTable, SimpleDocTemplate  # noqa: E402

from service.domain import indicators  # noqa: E402
from service.domain.targets import DEFAULT_TARGETS, INDICATOR_KEYS  # noqa: E402
from service.kit.settings import Settings  # noqa: E402
from service.reports.pdf import ProofLine, RateCell, ReportModel, ReportRow, render  # noqa: E402
from service.reports.signing import ReportSigner  # noqa: E402
from service.reports.use_cases import SHORT_LABELS, signed_report  # noqa: E402


def model(size: int) -> ReportModel:
    rows = []
    for n in range(size):
        counts = {"dmp_fed": 40 + n % 7, "mss_messages_sent": 120, "active_dui": 95 - n % 5,
                  "persons_accompanied": 100, "dui_with_personal_plan": 90 - n % 3, "dui_with_agenda_event": 88}
        evaluation = indicators.evaluate(counts, DEFAULT_TARGETS)
        rows.append(ReportRow(
            finess=f"33{n:06d}0", name=f"EHPAD n° {n} — Sœurs de l'Œuvre du Médoc", counts=list(counts.values()),
            period="01/01/2024 – 31/03/2024", target_set=DEFAULT_TARGETS.id,
            rates=[RateCell(SHORT_LABELS[k], evaluation[k].rate, evaluation[k].target, evaluation[k].met)
                   for k in INDICATOR_KEYS]))
    return ReportModel(
        submission_id="00000000-0000-4000-8000-000000000000", galis_ref="12345678",
        porteur_name="Association Cœur & Œuvre", siret="73282932000074", region="Nouvelle-Aquitaine (75)",
        milestone="Fin de projet", version=3, received_at="24/11/2026 à 10:00:00 (heure de Paris)",
        pushed_by="Éditeur DUI (éditeur DUI)", supersedes=2, fingerprint="0" * 64, rows=rows, totals=rows[0],
        target_sets=[DEFAULT_TARGETS.label], warnings=["Ligne 1, colonne G : taux atteint de justesse."] * 3,
        proofs=[ProofLine(r.finess, "preuve.pdf", "application/pdf", "a" * 64, "Marie Dupont, directrice",
                          "24/11/2026") for r in rows], proofs_missing=[], signatory="Marie Dupont, directrice",
        issued_on="24/11/2026")


def bare(m: ReportModel) -> bytes:
    buffer = io.BytesIO()
    data = [[r.finess, r.name, *r.counts, r.period, *(f"{c.rate}" for c in r.rates)] for r in m.rows]
    SimpleDocTemplate(buffer, pagesize=landscape(A4), invariant=1).build([LongTable(data, repeatRows=0)])
    return buffer.getvalue()


def timed(fn: object, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    signer = ReportSigner.from_settings(Settings(signing_dir=Path(tempfile.mkdtemp(prefix="esms-bench-sign-"))))
    render(model(1))  # fonts registered, modules warm
    print(f"median of {args.repeat} runs, ms per report\n")
    print(f"{'FINESS':>7}{'pages':>7}{'bare':>9}{'unsigned':>10}{'signed':>9}{'sign only':>11}{'× bare':>9}")
    for size in (1, 50, 300):
        m = model(size)
        pdf = render(m)
        from pypdf import PdfReader

        pages = len(PdfReader(io.BytesIO(pdf)).pages)
        base = timed(lambda m=m: bare(m), args.repeat)
        unsigned = timed(lambda m=m: render(m), args.repeat)
        signed = timed(lambda m=m: signed_report(m, signer), args.repeat)
        print(f"{size:>7}{pages:>7}{base:>9.1f}{unsigned:>10.1f}{signed:>9.1f}{signed - unsigned:>11.1f}"
              f"{unsigned / base:>9.2f}")
    print("\nGoal: a 50-FINESS report, signed, in < 50 ms.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
