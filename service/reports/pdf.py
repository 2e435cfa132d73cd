"""The PDF summary of a version, rendered with reportlab from a plain view-model.

No database here: ``ReportModel`` carries every figure already computed. The output is
deterministic (reportlab's invariant mode, fonts embedded from reportlab's own Vera files), so
the same model always gives the same bytes before signing.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import reportlab
from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import TimeStamp
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfbase.ttfonts import TTFont
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import KeepTogether, LongTable, Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
from reportlab.platypus.flowables import Flowable

FONT, BOLD = "Vera", "Vera-Bold"
_FONTS = Path(reportlab.__file__).parent / "fonts"
MET_LABELS = {True: "atteinte", False: "non atteinte", None: "non calculable"}
MET_COLORS = {True: colors.HexColor("#1b6e20"), False: colors.HexColor("#b00020"), None: colors.HexColor("#5f6368")}


#: Every table cell in the embedded font (reportlab's default cell font is a Helvetica it does not embed).
_CELL_FONT = [("FONTNAME", (0, 0), (-1, -1), FONT)]

# Binary compressed streams: ASCII85 only makes the file larger and slower to write.
rl_config.useA85 = 0


def _register_fonts() -> None:
    if FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(FONT, str(_FONTS / "Vera.ttf")))
        pdfmetrics.registerFont(TTFont(BOLD, str(_FONTS / "VeraBd.ttf")))
        pdfmetrics.registerFontFamily(FONT, normal=FONT, bold=BOLD, italic=FONT, boldItalic=BOLD)


@dataclass(frozen=True)
class RateCell:
    label: str
    rate: float | None
    target: float
    met: bool | None


@dataclass(frozen=True)
class ReportRow:
    finess: str
    name: str | None
    counts: list[int]  # columns E–J
    period: str  # "01/01/2024 – 31/03/2024"
    rates: list[RateCell]
    target_set: str


@dataclass(frozen=True)
class ProofLine:
    finess: str
    filename: str | None
    media_type: str
    sha256: str
    signed_by: str
    uploaded_at: str


@dataclass(frozen=True)
class ReportModel:
    submission_id: str
    galis_ref: str
    porteur_name: str
    siret: str
    region: str
    milestone: str
    version: int
    received_at: str
    pushed_by: str
    supersedes: int | None
    fingerprint: str
    rows: list[ReportRow]
    totals: ReportRow
    target_sets: list[str]
    warnings: list[str]
    proofs: list[ProofLine]
    proofs_missing: list[str]
    signatory: str | None
    issued_on: str
    #: The version's reception time (ISO 8601, UTC): the document's creation date.
    created_at: str = ""
    #: What only some versions have (``provenance``: the software and extraction time): absent keys
    #: leave the digest of earlier versions as it was.
    extra: dict[str, Any] = field(default_factory=dict)
    #: Where the verifiable log holds the version (its leaf index, the first checkpoint that
    #: includes it), once sequenced: not the version's data, so outside ``digest``.
    log_place: LogPlace | None = None

    def digest(self) -> str:
        """SHA-256 of everything the report shows of the version: the fingerprint printed on every page."""
        return hashlib.sha256(orjson.dumps(replace(self, log_place=None), option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclass(frozen=True)
class LogPlace:
    index: int
    checkpoint_size: int
    root_hex: str


COLUMN_TITLES = ["DMP<br/>alim. (E)", "Msg<br/>MSS (F)", "DUI<br/>actifs (G)", "Pers.<br/>acc. (H)",
                 "Projet<br/>perso. (I)", "Agenda<br/>(J)"]


def _styles() -> dict[str, ParagraphStyle]:
    base = ParagraphStyle("base", fontName=FONT, fontSize=7.5, leading=9)
    return {
        "base": base,
        "small": ParagraphStyle("small", parent=base, fontSize=6.5, leading=8),
        "title": ParagraphStyle("title", parent=base, fontName=BOLD, fontSize=14, leading=18, spaceAfter=4),
        "h2": ParagraphStyle("h2", parent=base, fontName=BOLD, fontSize=10, leading=13, spaceBefore=8, spaceAfter=4),
        "head": ParagraphStyle("head", parent=base, fontName=BOLD, fontSize=6.8, leading=8),
        "num": ParagraphStyle("num", parent=base, alignment=TA_RIGHT),
        "text": ParagraphStyle("text", parent=base, fontSize=8.5, leading=11),
    }


def _esc(text: object) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


#: Characters per line of a name in the establishments table (its column is 38 mm wide).
NAME_WIDTH = 30


def _fit(text: str, width: int) -> str:
    """Text cut into lines of at most ``width`` characters, on spaces when it can."""
    lines, line = [], ""
    for word in text.split():
        while len(word) > width:
            if line:
                lines.append(line)
                line = ""
            lines.append(word[:width])
            word = word[width:]
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    if line:
        lines.append(line)
    return "\n".join(lines)


def fr_number(value: int) -> str:
    return f"{value:,}".replace(",", "\u00a0")


def fr_pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}".replace(".", ",") + "\u00a0%"


def _rate_text(cell: RateCell) -> str:
    return f"{fr_pct(cell.rate)} / {fr_pct(cell.target)}\n{MET_LABELS[cell.met]}"


def _row_cells(row: ReportRow, styles: dict[str, ParagraphStyle], *, total: bool = False) -> list[Any]:
    """Plain strings wherever no wrapping is needed: a Paragraph costs ten times a string to lay out."""
    name = f"{row.finess}\n{_fit(row.name, NAME_WIDTH)}" if row.name else row.finess
    return [name, *(fr_number(v) for v in row.counts), row.period.replace(" – ", "\nau "),
            *(_rate_text(c) for c in row.rates)]


def _cell_styles(rows: list[ReportRow], first: int) -> list[tuple[Any, ...]]:
    """Each rate coloured by its mark (met, not met, not computable)."""
    commands: list[tuple[Any, ...]] = []
    for y, row in enumerate(rows, start=first):
        for x, cell in enumerate(row.rates, start=8):
            commands.append(("TEXTCOLOR", (x, y), (x, y), MET_COLORS[cell.met]))
    return commands


class _Footer:
    """Page x/y, the version and the data fingerprint on every page (two passes: y is known at the end)."""

    def __init__(self, model: ReportModel, digest: str) -> None:
        self.text = f"Version {model.submission_id} · empreinte des données {digest[:16]}…{digest[-8:]}"
        self.created_at = model.created_at

    def canvas_class(self) -> type[Canvas]:
        footer = self.text
        created_at = self.created_at

        class NumberedCanvas(Canvas):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self._pages: list[dict[str, Any]] = []
                if created_at:  # CreationDate and ModDate: when the version was received, not 2000
                    self._doc._timeStamp = _timestamp(created_at)

            def showPage(self) -> None:  # noqa: N802 (reportlab's API)
                self._pages.append(dict(self.__dict__))
                self._startPage()

            def save(self) -> None:
                total = len(self._pages)
                for number, state in enumerate(self._pages, start=1):
                    self.__dict__.update(state)
                    self.setFont(FONT, 7)
                    self.setFillColor(colors.HexColor("#444444"))
                    width = self._pagesize[0]
                    self.drawString(12 * mm, 8 * mm, footer)
                    self.drawRightString(width - 12 * mm, 8 * mm, f"Page {number}/{total}")
                    super().showPage()
                super().save()

        return NumberedCanvas


def _timestamp(iso_utc: str) -> TimeStamp:
    """reportlab's document time, set to ``iso_utc`` (invariant mode would give 1 January 2000)."""
    moment = datetime.fromisoformat(iso_utc.replace("Z", "+00:00")).astimezone(UTC)
    stamp = TimeStamp(invariant=1)
    stamp.t = moment.timestamp()
    stamp.lt = moment.timetuple()
    stamp.YMDhms = tuple(stamp.lt)[:6]
    stamp.dhh = stamp.dmm = 0
    return stamp


def _log_sentence(place: LogPlace) -> str:
    return (f"Journal vérifiable : l'enregistrement de cette version est l'événement d'index {place.index}, inclus "
            f"dans le point de contrôle signé de taille {place.checkpoint_size} (racine {place.root_hex}) ; preuve : "
            f"GET /v1/log/proofs/inclusion?index={place.index}&amp;tree_size={place.checkpoint_size}.")


def _draw_header(model: ReportModel, styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    """The version's identity: request, porteur, région, version, sender, fingerprint."""
    story: list[Flowable] = []
    supersedes = f" (remplace la version {model.supersedes})" if model.supersedes else ""
    header = [
        ["Demande GALIS", model.galis_ref, "Jalon", model.milestone],
        ["Porteur", f"{model.porteur_name} (SIRET {model.siret})", "Version", f"{model.version}{supersedes}"],
        ["Région", model.region, "Reçue le", model.received_at],
        ["Transmise par", model.pushed_by, "Empreinte de la version", model.fingerprint],
    ]
    if model.extra.get("provenance"):  # only when the push said where the figures come from
        header.append(["Provenance", str(model.extra["provenance"]), "", ""])
    story.append(Table([[Paragraph(f"<b>{_esc(a)}</b>", styles["text"]), Paragraph(_esc(b), styles["text"]),
                         Paragraph(f"<b>{_esc(c)}</b>", styles["text"]), Paragraph(_esc(d), styles["small"])]
                        for a, b, c, d in header],
                       colWidths=[32 * mm, 105 * mm, 38 * mm, 98 * mm],
                       style=TableStyle([*_CELL_FONT, ("VALIGN", (0, 0), (-1, -1), "TOP"),
                                         ("LINEBELOW", (0, -1), (-1, -1), 0.5, colors.grey)])))
    return story


def _draw_rows(model: ReportModel, styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    """One line per establishment (counts, period, rates against their targets), the totals, the target sets applied."""
    story: list[Flowable] = []
    story.append(Paragraph(f"Établissements ({len(model.rows)})", styles["h2"]))
    head = [Paragraph("FINESS géographique<br/>Raison sociale", styles["head"]),
            *(Paragraph(t, styles["head"]) for t in COLUMN_TITLES), Paragraph("Période de recueil", styles["head"]),
            *(Paragraph(c.label, styles["head"]) for c in model.totals.rates)]
    data = [head, *(_row_cells(r, styles) for r in model.rows), _row_cells(model.totals, styles, total=True)]
    widths = [38 * mm, *([15 * mm] * 6), 20 * mm, *([25 * mm] * 5)]  # 273 mm: the frame of landscape A4
    table = LongTable(data, colWidths=widths, repeatRows=1)
    table.setStyle(TableStyle([*_CELL_FONT,
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("FONT", (0, 1), (0, -2), FONT, 7.5, 9),
        ("FONT", (1, 1), (-1, -1), FONT, 6.8, 8.2),
        ("FONT", (0, -1), (-1, -1), BOLD, 6.8, 8.2),
        ("ALIGN", (1, 1), (6, -1), "RIGHT"),
        *_cell_styles([*model.rows, model.totals], 1),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#dde7f0")),
        ("BACKGROUND", (0, -1), (-1, -1), colors.HexColor("#f1f1f1")),
        ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#bbbbbb")),
        ("TOPPADDING", (0, 0), (-1, -1), 2), ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]))
    story.append(table)
    story.append(Paragraph("Cibles appliquées : " + "; ".join(_esc(t) for t in model.target_sets), styles["text"]))
    return story


def _draw_warnings(model: ReportModel, styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    """The version's warnings, or that it has none."""
    story: list[Flowable] = []
    story.append(Paragraph(f"Alertes ({len(model.warnings)})", styles["h2"]))
    story.extend(Paragraph("• " + _esc(w), styles["text"]) for w in model.warnings)
    if not model.warnings:
        story.append(Paragraph("Aucune alerte sur cette version.", styles["text"]))
    return story


def _draw_proofs(model: ReportModel, styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    """The proofs of usage with their SHA-256, and the establishments without one."""
    story: list[Flowable] = []
    story.append(Paragraph(f"Preuves d'usage ({len(model.proofs)})", styles["h2"]))
    if model.proofs:
        proof_rows = [[Paragraph(t, styles["head"]) for t in ("FINESS", "Fichier", "Signataire", "Déposée le",
                                                              "SHA-256")]]
        proof_rows += [[p.finess, _fit(p.filename or p.media_type, 38), _fit(p.signed_by, 38),
                        p.uploaded_at.replace(" à ", "\nà ", 1), p.sha256] for p in model.proofs]
        story.append(LongTable(proof_rows, colWidths=[22 * mm, 55 * mm, 55 * mm, 32 * mm, 109 * mm], repeatRows=1,
                               style=TableStyle([*_CELL_FONT, ("VALIGN", (0, 0), (-1, -1), "TOP"),
                                                 ("FONT", (0, 1), (-1, -1), FONT, 6.5, 8),
                                                 ("LINEBELOW", (0, 0), (-1, -1), 0.25, colors.HexColor("#bbbbbb"))])))
    if model.proofs_missing:
        story.append(Paragraph("Sans preuve : " + ", ".join(model.proofs_missing), styles["text"]))
    return story


def _draw_signature(model: ReportModel, styles: dict[str, ParagraphStyle]) -> list[Flowable]:
    """The porteur's signature block, how the document is signed, and its place in the log."""
    story: list[Flowable] = []
    signatory = model.signatory or "Nom : ………………………………………………   Fonction : ………………………………………"
    story.append(Spacer(1, 6 * mm))
    story.append(KeepTogether([
        Paragraph("Signature du représentant habilité du porteur", styles["h2"]),
        Paragraph(f"Je soussigné(e) {_esc(signatory)}, certifie l'exactitude des données ci-dessus.", styles["text"]),
        Spacer(1, 4 * mm),
        Paragraph("Fait le ……………………………   Signature :", styles["text"]),
        Spacer(1, 14 * mm),
        Paragraph(f"Document émis le {_esc(model.issued_on)} par le service des indicateurs d'usage et signé "
                  "électroniquement (PAdES) : sa signature se vérifie avec tout lecteur PDF ou par "
                  "POST /v1/reports/verify.", styles["small"]),
        *([Paragraph(_log_sentence(model.log_place), styles["small"])] if model.log_place else []),
    ]))
    return story


def render(model: ReportModel, digest: str | None = None) -> bytes:
    """The PDF bytes of ``model`` (unsigned); ``digest`` is ``model.digest()`` when already known."""
    _register_fonts()
    styles = _styles()
    digest = digest or model.digest()
    buffer = io.BytesIO()
    page = landscape(A4)
    doc = SimpleDocTemplate(buffer, pagesize=page, leftMargin=12 * mm, rightMargin=12 * mm, topMargin=12 * mm,
                            bottomMargin=15 * mm, title=f"Synthèse de la version {model.version} — {model.galis_ref}",
                            author="Service des indicateurs d'usage ESMS Numérique",
                            subject=f"version {model.submission_id}", keywords=f"empreinte {digest}",
                            creator="esms-usage-service", invariant=1,
                            initialFontName=FONT)  # no unembedded Helvetica declared on the pages
    story: list[Flowable] = [Paragraph("Synthèse des indicateurs d'usage — ESMS Numérique", styles["title"])]
    for draw in (_draw_header, _draw_rows, _draw_warnings, _draw_proofs, _draw_signature):
        story.extend(draw(model, styles))
    doc.build(story, canvasmaker=_Footer(model, digest).canvas_class())
    return buffer.getvalue()
