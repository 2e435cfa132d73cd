"""Reading the CNSA template as a file.

The container is checked first (an xlsx is a zip: its uncompressed size is bounded before any
parsing, by the sizes it declares and by the bytes it actually inflates), then python-calamine
reads the cells — about eight times faster than openpyxl's read-only mode on the whole
programme's file (``bench/bulk_import.py`` measures both) — and ``service.domain.template``
applies the template's rules.
"""

from __future__ import annotations

import lzma
import re
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import python_calamine

from service.domain import template

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


def _anchored_rows(sheet: Any) -> Iterator[list[Any]]:
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
