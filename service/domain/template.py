"""The CNSA Excel template "Liste des mesures d'usage": its own rules, cell by cell.

The xlsx reader (outside the domain) hands over the cells as Python values — ``str``,
``float``/``int``, ``bool``, ``date``/``datetime`` or ``None`` — with the sheet's names and
merged ranges. ``read_template`` checks what only a spreadsheet can get wrong (sheet and
column labels, merged cells, identifiers typed as numbers, a FINESS that lost its leading
zero, dates typed as text or numbers) and turns every data row into the JSON row shape, so
the declaration then goes through the same rules as a JSON push (``declaration``).
Every issue is addressed by cell (``C7``): ``row`` is the sheet row, ``column`` its letter.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from service.domain.declaration import COLUMNS, COUNT_FIELDS
from service.domain.errors import InvalidIdentifier, Issue
from service.domain.identifiers import Finess, Siret

SHEET_NAME = "Liste des mesures d'usage"
#: Column letter -> (field, official label), in template order A–L.
TEMPLATE_COLUMNS: tuple[tuple[str, str, str], ...] = tuple(
    (letter, name, label) for name, (letter, label) in COLUMNS.items()
)
LETTERS = tuple(letter for letter, _, _ in TEMPLATE_COLUMNS)
HEADER_ROW = 1
FIRST_DATA_ROW = 2

_FR_DATE = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})")
_DIGITS = re.compile(r"\d+")

Cell = str | float | int | bool | date | datetime | None


@dataclass(frozen=True, slots=True)
class Sheet:
    """What the reader found in a workbook; ``rows`` start at row 1, column A."""

    sheet_names: Sequence[str]
    rows: Iterable[Sequence[Cell]]
    #: Merged ranges as zero-based ((first row, first col), (last row, last col)).
    merged: Sequence[tuple[tuple[int, int], tuple[int, int]]] = ()


@dataclass(slots=True)
class TemplateRead:
    """The declaration rows in JSON shape, their sheet row numbers, and the template's issues."""

    rows: list[dict[str, object]] = field(default_factory=list)
    row_numbers: list[int] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
    #: Cells read with a warning: identifiers typed as numbers that kept all their digits.
    warnings: list[Issue] = field(default_factory=list)
    #: The template could not be read past its structure (sheet or column labels).
    structural: bool = False


def column_letter(column: int) -> str:
    """``column_letter(0) == "A"``, ``column_letter(26) == "AA"`` (zero-based column)."""
    name = ""
    column += 1
    while column:
        column, rest = divmod(column - 1, 26)
        name = chr(65 + rest) + name
    return name


def cell_name(column: int, row: int) -> str:
    """``cell_name(0, 7) == "A7"`` (zero-based column, sheet row)."""
    return f"{column_letter(column)}{row}"


def _issue(code: str, message: str, *, row: int | None = None, column: str | None = None,
           field_name: str | None = None) -> Issue:
    where = f"{column}{row} : " if column and row else ""
    return Issue(code=code, message=where + message, row=row, column=column, field=field_name)


def address(issue: Issue) -> Issue:
    """The same issue with its message prefixed by its cell, as a spreadsheet user looks for it."""
    if issue.row is None or issue.column is None or issue.message.startswith(f"{issue.column}{issue.row} : "):
        return issue
    return Issue(code=issue.code, message=f"{issue.column}{issue.row} : {issue.message}", row=issue.row,
                 column=issue.column, field=issue.field)


def merge_issues(template: Sequence[Issue], rules: Sequence[Issue]) -> list[Issue]:
    """Template issues first; a rule issue on a cell the template already refused is dropped
    (the cell was handed over empty, its own message says why)."""
    refused = {(i.row, i.field) for i in template if i.row is not None}
    kept = [address(i) for i in rules if i.row is None or (i.row, i.field) not in refused]
    return [*template, *kept]


def _normal_label(text: object) -> str:
    value = unicodedata.normalize("NFC", str(text or "")).replace("\u2019", "'").replace("\u00a0", " ")
    return " ".join(value.split()).casefold()


def _shown(value: Cell) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        return str(value).replace(".", ",")
    if isinstance(value, datetime | date):
        return value.strftime("%d/%m/%Y")
    return str(value)


def _is_empty(value: Cell) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def check_filename(filename: str | None, galis_ref: str) -> list[Issue]:
    if filename and galis_ref in filename:
        return []
    return [_issue(
        "template_filename_without_galis",
        f"Le nom du fichier « {filename or 'sans nom'} » doit contenir la référence de la demande GALIS "
        f"{galis_ref} (par exemple « mesures-usage-{galis_ref}.xlsx »).",
    )]


def check_merged(merged: Sequence[tuple[tuple[int, int], tuple[int, int]]]) -> list[Issue]:
    issues = []
    for (r0, c0), (r1, c1) in merged:
        first, last = cell_name(c0, r0 + 1), cell_name(c1, r1 + 1)
        issues.append(_issue(
            "template_merged_cells",
            f"{first} : les cellules {first}:{last} sont fusionnées ; le modèle n'admet aucune cellule "
            "fusionnée (Accueil > Fusionner et centrer pour les séparer).",
            row=r0 + 1, column=column_letter(c0),
        ))
    return issues


def check_header(header: Sequence[Cell]) -> list[Issue]:
    """Column labels A–L, exactly in this order; nothing labelled after L."""
    found = [_normal_label(v) for v in header]
    wanted = [_normal_label(label) for _, _, label in TEMPLATE_COLUMNS]
    issues: list[Issue] = []
    for index, (letter, _, label) in enumerate(TEMPLATE_COLUMNS):
        here = found[index] if index < len(found) else ""
        if here == wanted[index]:
            continue
        shown = _shown(header[index]).strip() if index < len(header) else ""
        if wanted[index] in found:
            at = LETTERS[found.index(wanted[index])] if found.index(wanted[index]) < len(LETTERS) else "?"
            issues.append(_issue(
                "template_column_out_of_order",
                f"la colonne « {label} » est attendue en {letter} et se trouve en {at} : l'ordre des colonnes "
                "du modèle ne doit pas changer.",
                row=HEADER_ROW, column=letter,
            ))
        elif not here:
            issues.append(_issue(
                "template_column_missing",
                f"la colonne « {label} » est absente (attendue en {letter}).",
                row=HEADER_ROW, column=letter,
            ))
        elif here in wanted:
            continue  # a label of another column, reported where that column is expected
        else:
            issues.append(_issue(
                "template_column_renamed",
                f"intitulé « {shown} » trouvé à la place de « {label} » : les intitulés du modèle ne "
                "doivent pas être modifiés.",
                row=HEADER_ROW, column=letter,
            ))
    for index in range(len(LETTERS), len(header)):
        if not _is_empty(header[index]):
            letter = column_letter(index)
            issues.append(_issue(
                "template_column_unexpected",
                f"colonne supplémentaire « {_shown(header[index]).strip()} » : le modèle s'arrête à la colonne L.",
                row=HEADER_ROW, column=letter,
            ))
    return issues


def read_template(sheet: Sheet, *, filename: str | None, galis_ref: str, siret: str,
                  max_rows: int) -> TemplateRead:
    """Check the template and type its cells; see the module docstring."""
    result = TemplateRead()
    result.issues.extend(check_filename(filename, galis_ref))
    if SHEET_NAME not in sheet.sheet_names:
        names = ", ".join(f"« {n} »" for n in sheet.sheet_names) or "aucune"
        result.issues.append(_issue(
            "template_sheet_missing",
            f"L'onglet « {SHEET_NAME} » est introuvable (onglets présents : {names}).",
        ))
        result.structural = True
        return result
    result.issues.extend(check_merged(sheet.merged))
    rows = iter(sheet.rows)
    header = next(rows, None)
    header_issues = check_header(header or [])
    if header_issues:
        result.issues.extend(header_issues)
        result.structural = True
        return result
    width = len(LETTERS)
    numbers: dict[str, list[int]] = {}  # column letter -> rows where an identifier was typed as a number
    for number, cells in enumerate(rows, start=FIRST_DATA_ROW):
        cells = list(cells[:width]) + [None] * (width - len(cells))
        if all(_is_empty(v) for v in cells):
            continue  # empty rows (trailing ones, mostly) carry nothing
        if len(result.rows) == max_rows:
            result.issues.append(_issue(
                "too_many_rows", f"Une déclaration compte au plus {max_rows} lignes d'établissement ; "
                f"la ligne {number} dépasse cette limite.", row=number, column="A"))
            result.structural = True
            return result
        result.rows.append(_read_row(cells, number, galis_ref=galis_ref, siret=siret, issues=result.issues,
                                     numbers=numbers))
        result.row_numbers.append(number)
    result.warnings.extend(_numbers_warning(letter, rows_) for letter, rows_ in sorted(numbers.items()))
    if not result.rows:
        result.issues.append(_issue(
            "template_no_rows", f"Aucune ligne d'établissement sous les intitulés de la feuille « {SHEET_NAME} » "
            f"(une ligne par FINESS géographique à partir de la ligne {FIRST_DATA_ROW}).",
            row=FIRST_DATA_ROW, column="A"))
        result.structural = True
    return result


#: Column -> (field, what it holds, its digit count): the identifiers of the template's columns A–C.
_IDENTIFIER_COLUMNS = {"A": ("galis_ref", "la référence GALIS", 8), "B": ("siret", "le SIRET", 14),
                       "C": ("finess", "le FINESS", 9)}


def _whole_number(value: Cell, column: str, numbers: dict[str, list[int]], row: int) -> Cell:
    """An identifier a spreadsheet stored as a number that kept every digit (LibreOffice does so
    unless the column is typed as text): its digits, and the cell noted for a warning. Any other
    value comes back as it was."""
    if isinstance(value, float | int) and not isinstance(value, bool) and float(value).is_integer() and value > 0:
        digits = str(int(value))
        if len(digits) == _IDENTIFIER_COLUMNS[column][2]:
            numbers.setdefault(column, []).append(row)
            return digits
    return value


def _numbers_warning(column: str, rows: list[int]) -> Issue:
    field_name, what, digits = _IDENTIFIER_COLUMNS[column]
    shown = ", ".join(f"{column}{r}" for r in rows[:10]) + (" …" if len(rows) > 10 else "")
    return _issue(
        f"{field_name}_typed_as_number",
        f"{what[0].upper()}{what[1:]} est saisi(e) comme un nombre dans {len(rows)} cellule(s) ({shown}) ; "
        f"les {digits} chiffres sont présents et ont été lus tels quels. Formatez la colonne {column} en texte "
        "(Format de cellule > Texte) : un identifiant qui commence par 0 perdrait sinon ce zéro.",
        row=rows[0], column=column, field_name=field_name,
    )


def _read_row(cells: list[Cell], row: int, *, galis_ref: str, siret: str, issues: list[Issue],
              numbers: dict[str, list[int]]) -> dict[str, object]:
    _check_galis(_whole_number(cells[0], "A", numbers, row), row, galis_ref, issues)
    _check_siret(_whole_number(cells[1], "B", numbers, row), row, siret, issues)
    out: dict[str, object] = {
        "finess": _finess(_whole_number(cells[2], "C", numbers, row), row, issues),
        "raison_sociale": None if _is_empty(cells[3]) else _shown(cells[3]),
    }
    for offset, name in enumerate(COUNT_FIELDS, start=4):
        out[name] = _count(cells[offset], row, LETTERS[offset], name, issues)
    out["period_start"] = _date(cells[10], row, "K", "period_start", issues)
    out["period_end"] = _date(cells[11], row, "L", "period_end", issues)
    return out


def _number_typed(value: Cell, *, row: int, column: str, field_name: str, what: str, digits: int) -> Issue:
    return _issue(
        f"{field_name}_as_number",
        f"{what} est saisi(e) comme un nombre ({_shown(value)}) : formatez la colonne {column} en texte "
        f"(Format de cellule > Texte) et saisissez les {digits} chiffres.",
        row=row, column=column, field_name=field_name,
    )


def _required(row: int, column: str, field_name: str, label: str) -> Issue:
    return _issue("field_required", f"{label} : valeur obligatoire.", row=row, column=column, field_name=field_name)


def _check_galis(value: Cell, row: int, galis_ref: str, issues: list[Issue]) -> None:
    if value == galis_ref:
        return
    if _is_empty(value):
        issues.append(_required(row, "A", "galis_ref", "Référence de la demande GALIS"))
    elif not isinstance(value, str):
        issues.append(_number_typed(value, row=row, column="A", field_name="galis_ref",
                                    what="La référence GALIS", digits=8))
    elif value.strip() != galis_ref:
        issues.append(_issue(
            "galis_ref_mismatch",
            f"la référence GALIS « {value.strip()} » ne correspond pas à la demande {galis_ref} à laquelle "
            "le fichier est envoyé.",
            row=row, column="A", field_name="galis_ref",
        ))


def _check_siret(value: Cell, row: int, siret: str, issues: list[Issue]) -> None:
    if value == siret:
        return  # the request's own SIRET, already checked when the request was registered
    if _is_empty(value):
        issues.append(_required(row, "B", "siret", "SIRET Porteur"))
        return
    if not isinstance(value, str):
        issues.append(_number_typed(value, row=row, column="B", field_name="siret", what="Le SIRET", digits=14))
        return
    try:
        found = Siret.parse(value).value
    except InvalidIdentifier as exc:
        issues.append(_issue(exc.code, exc.message, row=row, column="B", field_name="siret"))
        return
    if found != siret:
        issues.append(_issue(
            "siret_mismatch",
            f"le SIRET {found} n'est pas celui du porteur de la demande ({siret}).",
            row=row, column="B", field_name="siret",
        ))


def _lost_zero(digits: str) -> str | None:
    """The FINESS that ``digits`` was before a spreadsheet dropped its leading zero, if any."""
    if len(digits) != 8:
        return None
    try:
        return Finess.parse("0" + digits).value
    except InvalidIdentifier:
        return None


def _finess(value: Cell, row: int, issues: list[Issue]) -> str | None:
    if _is_empty(value):
        return None  # the declaration rules say it is required
    digits = None
    if isinstance(value, float | int) and not isinstance(value, bool) and float(value).is_integer():
        digits = str(int(value))
    elif isinstance(value, str) and _DIGITS.fullmatch(value.strip()):
        digits = value.strip()
    restored = _lost_zero(digits) if digits else None
    if restored is not None:
        issues.append(_issue(
            "finess_leading_zero_lost",
            f"le FINESS est lu « {digits} » (8 chiffres) : la colonne C n'est pas au format texte et le zéro "
            f"initial a été perdu. Il s'agit sans doute de {restored} : formatez la colonne C en texte "
            f"(Format de cellule > Texte) et saisissez {restored}.",
            row=row, column="C", field_name="finess",
        ))
        return None
    if not isinstance(value, str):
        issues.append(_number_typed(value, row=row, column="C", field_name="finess",
                                    what="Le FINESS", digits=9))
        return None
    return value.strip()


def _count(value: Cell, row: int, column: str, field_name: str, issues: list[Issue]) -> int | None:
    if type(value) is float and value.is_integer():  # how a reader hands over a typed number
        return int(value)
    if _is_empty(value):
        return None
    if isinstance(value, bool) or isinstance(value, date):
        pass
    elif isinstance(value, int):
        return value
    elif isinstance(value, float):
        if value.is_integer():
            return int(value)
    elif isinstance(value, str):
        text = value.strip().replace("\u00a0", "").replace(" ", "")
        if _DIGITS.fullmatch(text):
            return int(text)  # a number stored as text: the figure is unambiguous
        if text.startswith("-") and _DIGITS.fullmatch(text[1:]):
            return -int(text[1:])  # refused as negative by the declaration rules
    label = COLUMNS[field_name][1]
    issues.append(_issue(
        "not_an_integer",
        f"{label} : un nombre entier est attendu (lu « {_shown(value)} »).",
        row=row, column=column, field_name=field_name,
    ))
    return None


def _date(value: Cell, row: int, column: str, field_name: str, issues: list[Issue]) -> str | None:
    if _is_empty(value):
        return None
    label = COLUMNS[field_name][1]
    if isinstance(value, datetime):
        if value.time() == datetime.min.time():
            return value.date().isoformat()
        issues.append(_issue(
            "date_with_time",
            f"{label} : une date sans heure est attendue (lu {value:%d/%m/%Y %H:%M}).",
            row=row, column=column, field_name=field_name,
        ))
        return None
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        match = _FR_DATE.fullmatch(value.strip())
        if match:
            day, month, year = (int(g) for g in match.groups())
            try:
                return date(year, month, day).isoformat()
            except ValueError:
                pass
            issues.append(_issue(
                "invalid_date", f"{label} : la date « {value.strip()} » n'existe pas.",
                row=row, column=column, field_name=field_name,
            ))
            return None
    if isinstance(value, float | int) and not isinstance(value, bool):
        issues.append(_issue(
            "date_as_number",
            f"{label} : la cellule contient le nombre {_shown(value)} et non une date ; appliquez le format "
            "Date (JJ/MM/AAAA) à la colonne ou saisissez la date en texte JJ/MM/AAAA.",
            row=row, column=column, field_name=field_name,
        ))
        return None
    issues.append(_issue(
        "invalid_date",
        f"{label} : date illisible (lu « {_shown(value)} ») ; saisissez une date Excel ou un texte JJ/MM/AAAA.",
        row=row, column=column, field_name=field_name,
    ))
    return None
