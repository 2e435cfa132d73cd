"""Reading and writing the CNSA template as a file.

Reading: the container is checked first (an xlsx is a zip: its uncompressed size is bounded
before any parsing, by the sizes it declares and by the bytes it actually inflates), then
python-calamine reads the cells — about eight times faster than openpyxl's read-only mode on
the whole programme's file (``bench/bulk_import.py`` measures both) — and
``service.domain.template`` applies the template's rules.

Writing: openpyxl in write-only mode (rows streamed to the file), columns A–C as text so that
leading zeros survive, K–L as real dates; a second sheet carries the computed rates, never
the first, so an exported version re-imports unchanged.
"""

from __future__ import annotations

import csv
import io
import lzma
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import IO, Any
from xml.etree import ElementTree

import python_calamine
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet._write_only import WriteOnlyWorksheet

from service.domain import template
from service.domain.declaration import COUNT_FIELDS
from service.domain.indicators import LABELS, Indicator
from service.domain.targets import INDICATOR_KEYS

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
RATES_SHEET = "Taux et atteinte des cibles"
_INFLATE_CHUNK = 1 << 16


class TemplateFileRefused(Exception):
    """The file is not a readable xlsx workbook; ``status`` is 413, 415 or 422."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


_ODS = b"application/vnd.oasis.opendocument.spreadsheet"
_SAVE_AS = "enregistrez-le depuis votre tableur au format « Classeur Excel (.xlsx) » et déposez ce fichier"


def _refuse_format(code: str, what: str) -> TemplateFileRefused:
    return TemplateFileRefused(415, code, f"Le fichier déposé est {what}, pas un classeur Excel .xlsx : {_SAVE_AS}.")


def check_container(path: Path, head: bytes, *, max_uncompressed: int, max_rows: int) -> None:
    """Refuse anything that is not an xlsx workbook of bounded uncompressed size whose template
    sheet has no cell far outside the template (a reader lays out every cell up to the last)."""
    if head.startswith(b"%PDF"):
        raise _refuse_format("template_format_pdf", "un document PDF")
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        raise TemplateFileRefused(415, "template_format_xls", (
            "Le fichier déposé est un classeur Excel 97-2003 (.xls) ou un classeur protégé par mot de passe : "
            f"retirez l'éventuel mot de passe, {_SAVE_AS}."))
    if not head.startswith(b"PK\x03\x04"):
        if _looks_like_text(head):
            raise _refuse_format("template_format_csv", "un fichier texte (CSV)")
        raise _refuse_format("template_format_unknown", "d'un format non reconnu")
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "mimetype" in names and _start_of(archive, "mimetype", len(_ODS) + 16).strip() == _ODS:
                raise _refuse_format("template_format_ods", "un classeur OpenDocument (.ods)")
            if "xl/workbook.bin" in names:
                raise _refuse_format("template_format_xlsb", "un classeur binaire Excel (.xlsb)")
            if "[Content_Types].xml" not in names or "xl/workbook.xml" not in names:
                raise _refuse_format("template_format_unknown", "une archive ZIP (document Word ou autre)")
            _check_members(archive)
            _bound_uncompressed(archive, max_uncompressed)
            _bound_cells(archive, max_row=max_rows + _SPARE_ROWS)
    # What a damaged archive raises from zipfile and its decompressors
    except (zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError, NotImplementedError, RuntimeError, OSError,
            ValueError, ElementTree.ParseError) as exc:
        raise TemplateFileRefused(422, "template_corrupt",
                                  f"Le classeur est endommagé ou tronqué et ne peut pas être lu ({exc}).") from None


#: Rows accepted below the last declaration row (formatted but empty rows a spreadsheet leaves).
_SPARE_ROWS = 10_000
#: Columns accepted: the template's A–L and some room for notes beside it.
_MAX_COLUMN = 64
_TAG = re.compile(rb"<(row|c)\b([^>]*?)(/?)>")
_ROW_REF = re.compile(rb'\br="([0-9]{1,7})"')
_CELL_REF = re.compile(rb'\br="([A-Z]{1,3})([0-9]{1,7})"')
#: The column and the row of cells whose reference comes first (with a value or not: a formatted
#: empty cell out of bounds sends the part to the exact walk, which tells them apart).
_CELL_COLUMN = re.compile(rb'<c r="([A-Z]{1,3})')
_CELL_ROW = re.compile(rb'<c r="[A-Z]{1,3}([0-9]{1,7})')
_NS_MAIN = "{http://schemas.openxmlformats.org/spreadsheetml/2006/main}"
_NS_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}"
_NS_PKG_REL = "{http://schemas.openxmlformats.org/package/2006/relationships}"


def _start_of(archive: zipfile.ZipFile, name: str, size: int) -> bytes:
    with archive.open(name) as member:
        return member.read(size)


def _check_members(archive: zipfile.ZipFile) -> None:
    for info in archive.infolist():
        if info.flag_bits & 0x1:
            raise TemplateFileRefused(415, "template_format_xls", (
                "Le classeur est protégé par mot de passe : retirez le mot de passe, puis " + _SAVE_AS + "."))
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise TemplateFileRefused(422, "template_corrupt", "Le classeur utilise une compression inconnue "
                                      "des tableurs : enregistrez-le à nouveau au format .xlsx.")


def _template_sheet_path(archive: zipfile.ZipFile) -> str | None:
    """The archive member of the sheet named like the template (workbook.xml and its relations)."""
    workbook = ElementTree.fromstring(archive.read("xl/workbook.xml"))  # noqa: S314 (bounded, no entities)
    rel_id = None
    for sheet in workbook.iter(f"{_NS_MAIN}sheet"):
        if sheet.get("name") == template.SHEET_NAME:
            rel_id = sheet.get(f"{_NS_REL}id")
    if rel_id is None or "xl/_rels/workbook.xml.rels" not in archive.namelist():
        return None
    rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))  # noqa: S314
    for rel in rels.iter(f"{_NS_PKG_REL}Relationship"):
        if rel.get("Id") == rel_id:
            target = str(rel.get("Target", ""))
            return target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    return None


def _bound_cells(archive: zipfile.ZipFile, *, max_row: int) -> None:
    """Refuse a template sheet holding a value far beyond the template: the reader would lay out
    every cell up to it (one cell at XFD1048576 asks for hundreds of gigabytes)."""
    path = _template_sheet_path(archive)
    names = archive.namelist()
    # When the workbook does not say plainly which part is the sheet, every worksheet is checked.
    for part in [path] if path in names else [n for n in names if n.startswith("xl/worksheets/")]:
        _bound_part(archive, part, max_row=max_row)


def _bound_part(archive: zipfile.ZipFile, path: str, *, max_row: int) -> None:
    """The fast check when every row and cell carries its reference first (as spreadsheet programs
    write them), found with C-speed searches; the exact walk otherwise."""
    if not _fast_bound(archive, path, max_row=max_row):
        _exact_bound(archive, path, max_row=max_row)


def _chunks(archive: zipfile.ZipFile, path: str) -> Iterator[bytes]:
    """The part's bytes in pieces that never cut an element (each ends before its last ``<``)."""
    tail = b""
    with archive.open(path) as member:
        while chunk := member.read(_INFLATE_CHUNK):
            data = tail + chunk
            cut = data.rfind(b"<")
            cut = len(data) if cut < 0 or len(data) - cut > 4096 else cut
            yield data[:cut]
            tail = data[cut:]
    if tail:
        yield tail


def _out_of_range(name: str, max_row: int) -> TemplateFileRefused:
    return TemplateFileRefused(422, "template_cell_out_of_range", (
        f"{name} : la feuille « {template.SHEET_NAME} » contient une valeur en {name}, loin au-delà du tableau "
        f"du modèle (colonnes A à L, {max_row} lignes au plus) : effacez les cellules hors du tableau."))


def _fast_bound(archive: zipfile.ZipFile, path: str, *, max_row: int) -> bool:
    """True when every value is within bounds; False when the exact walk is needed: some row or
    cell does not start with its reference, or a value is out of bounds (the walk names it)."""
    for data in _chunks(archive, path):
        cells = data.count(b"<c ") + data.count(b"<c>")
        rows = data.count(b"<row ") + data.count(b"<row>")
        if cells != data.count(b'<c r="') or rows != data.count(b'<row r="'):
            return False
        columns = set(_CELL_COLUMN.findall(data))
        numbers = set(_CELL_ROW.findall(data))
        widest = max(columns, key=lambda c: (len(c), c), default=b"A")
        deepest = max(numbers, key=lambda r: (len(r), r), default=b"1")
        if _column_index(widest.decode()) >= _MAX_COLUMN or int(deepest) > max_row:
            return False  # the exact walk names the cell
    return True


def _exact_bound(archive: zipfile.ZipFile, path: str, *, max_row: int) -> None:
    row, column = 0, -1
    for data in _chunks(archive, path):
        for match in _TAG.finditer(data):
            attributes = match.group(2)
            if match.group(1) == b"row":  # rows and cells may omit r=: they follow the previous one
                found = _ROW_REF.search(attributes)
                row, column = (int(found.group(1)) if found else row + 1), -1
                continue
            ref = _CELL_REF.search(attributes)
            if ref:
                column, row = _column_index(ref.group(1).decode()), int(ref.group(2))
            else:
                column += 1
            if not match.group(3) and (column >= _MAX_COLUMN or row > max_row):  # a cell with a value
                raise _out_of_range(template.cell_name(min(column, 16_383), row), max_row)


def _column_index(letters: str) -> int:
    index = 0
    for letter in letters:
        index = index * 26 + ord(letter) - 64
    return index - 1


def _looks_like_text(head: bytes) -> bool:
    sample = head[:4096]
    if b"\x00" in sample:
        return False
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 3:  # not only a character cut at the end of the sample
            try:
                sample.decode("cp1252")
            except UnicodeDecodeError:
                return False
    return True


def _bound_uncompressed(archive: zipfile.ZipFile, limit: int) -> None:
    too_large = TemplateFileRefused(413, "template_uncompressed_too_large", (
        f"Une fois décompressé, le classeur dépasse la taille admise ({limit} octets) : "
        "déposez un fichier limité à la feuille « Liste des mesures d'usage »."))
    if sum(info.file_size for info in archive.infolist()) > limit:
        raise too_large
    inflated = 0
    for info in archive.infolist():  # the sizes an archive declares may lie: count what inflates
        with archive.open(info) as member:
            while chunk := member.read(_INFLATE_CHUNK):
                inflated += len(chunk)
                if inflated > limit:
                    raise too_large


def read_sheet(path: Path) -> tuple[template.Sheet, Any]:
    """Open the workbook with calamine; return the cells of the template sheet (if any).

    The second value is the workbook, to close once the rows have been consumed.
    """
    try:
        workbook = python_calamine.CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine's own errors on a broken workbook
        raise TemplateFileRefused(422, "template_corrupt",
                                  f"Le classeur ne peut pas être lu ({exc}).") from None
    names = list(workbook.sheet_names)
    if template.SHEET_NAME not in names:
        return template.Sheet(sheet_names=names, rows=()), workbook
    try:
        sheet = workbook.get_sheet_by_name(template.SHEET_NAME)
    except Exception as exc:
        workbook.close()
        raise TemplateFileRefused(422, "template_corrupt",
                                  f"La feuille « {template.SHEET_NAME} » ne peut pas être lue ({exc}).") from None
    return template.Sheet(sheet_names=names, rows=_anchored_rows(sheet),
                          merged=list(sheet.merged_cell_ranges or ())), workbook


def _anchored_rows(sheet: Any) -> Iterator[list[object]]:
    """Rows from row 1, column A: calamine yields the rows from the first one, but the columns
    only from the first used one."""
    _, first_col = sheet.start or (0, 0)
    pad = [None] * first_col
    for cells in sheet.iter_rows():
        yield pad + cells if first_col else cells


def read_declaration_file(path: Path, head: bytes, *, filename: str | None, galis_ref: str, siret: str,
                          max_rows: int, max_uncompressed: int) -> template.TemplateRead:
    check_container(path, head, max_uncompressed=max_uncompressed, max_rows=max_rows)
    sheet, workbook = read_sheet(path)
    try:
        return template.read_template(sheet, filename=filename, galis_ref=galis_ref, siret=siret,
                                      max_rows=max_rows)
    finally:
        workbook.close()


# -- writing ---------------------------------------------------------------------------------

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
