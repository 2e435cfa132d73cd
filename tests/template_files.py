"""Real CNSA template files, written with openpyxl as a spreadsheet user would leave them."""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Sequence
from datetime import date
from typing import Any

from openpyxl import Workbook

from service.domain.template import SHEET_NAME, TEMPLATE_COLUMNS

LABELS = [label for _, _, label in TEMPLATE_COLUMNS]
COUNT_KEYS = ("dmp_fed", "mss_messages_sent", "active_dui", "persons_accompanied", "dui_with_personal_plan",
              "dui_with_agenda_event")


def line(galis_ref: str, siret: str, row: dict[str, Any]) -> list[Any]:
    """A template line (A–L) from a JSON row: identifiers as text, periods as real dates."""
    return [galis_ref, siret, row["finess"], row.get("raison_sociale"), *(row[k] for k in COUNT_KEYS),
            date.fromisoformat(row["period_start"]), date.fromisoformat(row["period_end"])]


def workbook(lines: Sequence[Sequence[Any]], *, header: Sequence[Any] | None = None, sheet: str = SHEET_NAME,
             merge: Sequence[str] = (), extra_sheets: Sequence[str] = ("Notice",),
             formulas: dict[str, tuple[str, Any]] | None = None, text_columns: str = "ABC",
             blank_formatted_rows: int = 0) -> bytes:
    """An xlsx file: header on row 1, ``lines`` from row 2.

    ``formulas`` maps a cell to (formula, cached value): the value is stored as a spreadsheet
    program would after computing it (openpyxl alone writes no cached value; ``None`` keeps it so).
    ``blank_formatted_rows`` adds formatted but empty rows after the data, as Excel leaves them.
    """
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = sheet
    for name in extra_sheets:
        wb.create_sheet(name)["A1"] = "Mode d'emploi du modèle"
    ws.append(list(LABELS if header is None else header))
    for values in lines:
        ws.append(list(values))
    for number in range(2, len(lines) + 2):
        for letter in text_columns:
            ws[f"{letter}{number}"].number_format = "@"
        for letter in "KL":
            if isinstance(ws[f"{letter}{number}"].value, date):  # a number typed there stays a number
                ws[f"{letter}{number}"].number_format = "DD/MM/YYYY"
    for offset in range(blank_formatted_rows):
        for letter in "ABCKL":
            ws[f"{letter}{len(lines) + 2 + offset}"].number_format = "@"
    for cell, (formula, _) in (formulas or {}).items():
        ws[cell] = formula
    for cells in merge:
        ws.merge_cells(cells)
    buffer = io.BytesIO()
    wb.save(buffer)
    data = buffer.getvalue()
    cached = {cell: value for cell, (_, value) in (formulas or {}).items() if value is not None}
    return _with_cached_values(data, cached) if cached else data


def _with_cached_values(data: bytes, values: dict[str, Any]) -> bytes:
    """Store the computed value of formula cells, as Excel does when it saves."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            content = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                text = content.decode()
                for cell, value in values.items():
                    text, found = re.subn(rf'(<c r="{cell}"[^>]*>)(<f>.*?</f>)(?:<v ?/>|<v></v>)',
                                     rf"\1\2<v>{value}</v>", text)
                    assert found == 1, cell
                content = text.encode()
            target.writestr(info, content)
    return out.getvalue()


def ods() -> bytes:
    """The start of an OpenDocument spreadsheet: a zip whose first entry names its type."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
        archive.writestr("content.xml", "<office:document-content/>")
    return out.getvalue()


def inflating(data: bytes, extra_bytes: int) -> bytes:
    """``data`` plus a highly compressible entry of ``extra_bytes`` once inflated."""
    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            target.writestr(info, source.read(info))
        target.writestr("xl/media/padding.bin", b"\0" * extra_bytes)
    return out.getvalue()
