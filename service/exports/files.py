"""Writing the CNSA template and the follow-up table as files.

openpyxl in write-only mode (rows streamed to the file), columns A–C as text so that leading
zeros survive, K–L as real dates; a second sheet carries the computed rates, never the first,
so an exported version re-imports unchanged.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import IO

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet._write_only import WriteOnlyWorksheet
from openpyxl.worksheet.datavalidation import DataValidation

from service.domain import template
from service.domain.declaration import COUNT_FIELDS
from service.domain.indicators import LABELS, Indicator
from service.domain.targets import INDICATOR_KEYS

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
RATES_SHEET = "Taux et atteinte des cibles"


@dataclass(frozen=True, slots=True)
class ExportRow:
    """One establishment of one version, as exported."""

    galis_ref: str
    siret: str
    milestone: str
    version: int
    finess: str
    raison_sociale: str | None
    counts: dict[str, int]
    period_start: date
    period_end: date
    indicators: dict[str, Indicator]
    software: str | None = None
    extracted_at: datetime | None = None


_HEADER_FONT = Font(bold=True)
_HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
_WIDTHS = (14, 18, 14, 40, 14, 16, 14, 18, 18, 18, 16, 16)
_MET_LABELS = {True: "atteinte", False: "non atteinte", None: "non calculable"}


def _text(ws: WriteOnlyWorksheet, value: str | None) -> WriteOnlyCell:
    cell = WriteOnlyCell(ws, value=_xml_safe(value))
    cell.data_type = "s"  # never a formula, whatever the text starts with
    cell.number_format = "@"
    return cell


_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml_safe(value: str | None) -> str | None:
    """Text an xlsx can hold: characters XML forbids (in names stored before they were refused at
    input) become U+FFFD rather than failing the whole export."""
    return _NOT_XML.sub("\ufffd", value) if value else value


def _date_cell(ws: WriteOnlyWorksheet, value: date) -> WriteOnlyCell:
    cell = WriteOnlyCell(ws, value=value)
    cell.number_format = "DD/MM/YYYY"
    return cell


def _header(ws: WriteOnlyWorksheet, labels: Sequence[str]) -> list[WriteOnlyCell]:
    cells = []
    for label in labels:
        cell = _text(ws, label)
        cell.font, cell.fill = _HEADER_FONT, _HEADER_FILL
        cells.append(cell)
    return cells


def write_xlsx(rows: Iterable[ExportRow], handle: IO[bytes]) -> None:
    """The template sheet (re-importable as is), then the computed rates on a second sheet."""
    workbook = Workbook(write_only=True)
    main = workbook.create_sheet(template.SHEET_NAME)
    rates = workbook.create_sheet(RATES_SHEET)
    for index, width in enumerate(_WIDTHS):
        main.column_dimensions[template.column_letter(index)].width = width
    main.freeze_panes = "A2"
    main.append(_header(main, [label for _, _, label in template.TEMPLATE_COLUMNS]))
    rate_labels = ["Référence de la demande GALIS", "FINESS Géographique", "Jalon", "Version"]
    for key in INDICATOR_KEYS:
        rate_labels += [f"{LABELS[key]} (%)", "Cible (%)", "Atteinte"]
    rate_labels += ["Logiciel", "Données extraites le (UTC)"]
    rates.append(_header(rates, rate_labels))
    for r in rows:
        main.append([
            _text(main, r.galis_ref), _text(main, r.siret), _text(main, r.finess), _text(main, r.raison_sociale),
            *(r.counts[name] for name in COUNT_FIELDS),
            _date_cell(main, r.period_start), _date_cell(main, r.period_end),
        ])
        line: list[object] = [_text(rates, r.galis_ref), _text(rates, r.finess), r.milestone, r.version]
        for key in INDICATOR_KEYS:
            ind = r.indicators[key]
            line += [ind.rate, ind.target, _MET_LABELS[ind.met]]
        line += [_text(rates, r.software), r.extracted_at.replace(tzinfo=None) if r.extracted_at else None]
        rates.append(line)
    workbook.save(handle)


@dataclass(frozen=True, slots=True)
class BlankTemplate:
    """A request's template to fill: one line per establishment, and the notice's paragraphs."""

    galis_ref: str
    siret: str
    establishments: Sequence[tuple[str, str]]
    notice: Sequence[str]


NOTICE_SHEET = "Notice"
_COUNT_FORMAT = "0"


def write_blank_template(blank: BlankTemplate, handle: IO[bytes]) -> None:
    """The template sheet with A–D filled (A–C as text) and E–L left to fill (E–J integers ≥ 0,
    K–L dates, each checked by the spreadsheet's own data validation), then the notice."""
    workbook = Workbook(write_only=True)
    main = workbook.create_sheet(template.SHEET_NAME)
    notice = workbook.create_sheet(NOTICE_SHEET)
    for index, width in enumerate(_WIDTHS):
        main.column_dimensions[template.column_letter(index)].width = width
    main.freeze_panes = "A2"
    last = len(blank.establishments) + 1
    if last >= 2:
        counts = DataValidation(type="whole", operator="greaterThanOrEqual", formula1="0", allow_blank=True,
                                error="Un nombre entier positif ou nul.", errorTitle="Nombre attendu",
                                showErrorMessage=True)
        counts.add(f"E2:J{last}")
        days = DataValidation(type="date", operator="greaterThan", formula1="36526", allow_blank=True,
                              error="Une date JJ/MM/AAAA.", errorTitle="Date attendue", showErrorMessage=True)
        days.add(f"K2:L{last}")
        main.data_validations.append(counts)
        main.data_validations.append(days)
    main.append(_header(main, [label for _, _, label in template.TEMPLATE_COLUMNS]))
    for finess, name in blank.establishments:
        main.append([_text(main, blank.galis_ref), _text(main, blank.siret), _text(main, finess), _text(main, name),
                     *(_empty(main, _COUNT_FORMAT) for _ in COUNT_FIELDS),
                     _empty(main, "DD/MM/YYYY"), _empty(main, "DD/MM/YYYY")])
    notice.column_dimensions["A"].width = 120
    for paragraph in blank.notice:
        notice.append([_text(notice, paragraph)])
    workbook.save(handle)


def _empty(ws: WriteOnlyWorksheet, number_format: str) -> WriteOnlyCell:
    cell = WriteOnlyCell(ws, value=None)
    cell.number_format = number_format
    return cell


def write_csv(rows: Iterable[ExportRow], handle: IO[bytes]) -> None:
    """The template columns as CSV: ``;``, UTF-8 with BOM, dates JJ/MM/AAAA."""
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", newline="")
    writer = csv.writer(text, delimiter=";", lineterminator="\r\n")
    writer.writerow([label for _, _, label in template.TEMPLATE_COLUMNS])
    for r in rows:
        writer.writerow([r.galis_ref, r.siret, r.finess, _csv_text(r.raison_sociale),
                         *(r.counts[name] for name in COUNT_FIELDS),
                         f"{r.period_start:%d/%m/%Y}", f"{r.period_end:%d/%m/%Y}"])
    text.flush()
    text.detach()


def _csv_text(value: str | None) -> str:
    """A name a spreadsheet would run as a formula is quoted with a leading apostrophe."""
    if value and value[0] in "=+-@\t\r":
        return "'" + value
    return value or ""


@dataclass(frozen=True)
class FollowUpLine:
    """One establishment in the regional follow-up table."""

    finess: str
    finess_ej: str | None
    department: str
    category: str | None
    name: str
    galis_ref: str
    porteur: str
    siret: str
    vendor: str | None
    va_opened_on: date | None
    fin_projet_opened_on: date | None
    fin_projet_due_on: date | None
    closed_on: date | None
    milestone: str | None
    version: int | None
    received_on: date | None
    indicators: dict[str, Indicator] | None
    decision: str | None
    proofs_complete: bool | None
    open_proof_requests: int
    risk_score: int | None


FOLLOW_UP_SHEET = "Suivi"
_DECISIONS = {"accepted": "acceptée", "rejected": "rejetée", "changes_requested": "à corriger", None: "en attente"}


def write_follow_up(lines: Iterable[FollowUpLine], handle: IO[bytes]) -> None:
    """The follow-up table, one line per FINESS, written as it is read (write-only workbook)."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(FOLLOW_UP_SHEET)
    sheet.freeze_panes = "B2"
    labels = ["FINESS ET", "FINESS EJ", "Département", "Catégorie", "Raison sociale", "Demande GALIS", "Porteur",
              "SIRET", "Éditeur", "VA ouverte le", "Fin de projet ouverte le", "Échéance fin de projet",
              "Soldée le", "Jalon de la dernière version", "Version", "Reçue le"]
    for key in INDICATOR_KEYS:
        labels += [f"{LABELS[key]} (%)", "Atteinte"]
    labels += ["Décision de l'ARS", "Preuves complètes", "Demandes de preuve ouvertes", "Score de risque"]
    sheet.append(_header(sheet, labels))
    for line in lines:
        row: list[object] = [_text(sheet, line.finess), _text(sheet, line.finess_ej), _text(sheet, line.department),
                             _text(sheet, line.category), _text(sheet, line.name), _text(sheet, line.galis_ref),
                             _text(sheet, line.porteur), _text(sheet, line.siret), _text(sheet, line.vendor)]
        row += [_date_cell(sheet, d) if d else None for d in (line.va_opened_on, line.fin_projet_opened_on,
                                                             line.fin_projet_due_on, line.closed_on)]
        row += [_text(sheet, {"va": "VA", "fin_projet": "fin de projet"}.get(line.milestone or "", "")), line.version,
                _date_cell(sheet, line.received_on) if line.received_on else None]
        for key in INDICATOR_KEYS:
            ind = line.indicators[key] if line.indicators else None
            row += [ind.rate if ind else None, _MET_LABELS[ind.met] if ind else None]
        row += [_DECISIONS.get(line.decision, line.decision) if line.version else None,
                None if line.proofs_complete is None else ("oui" if line.proofs_complete else "non"),
                line.open_proof_requests, line.risk_score]
        sheet.append(row)
    workbook.save(handle)
