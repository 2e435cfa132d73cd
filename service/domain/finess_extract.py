"""The public extract of the FINESS file (data.gouv.fr, etalab « stock » CSV), read line by line.

The file has no header row. Its first line describes it: ``finess;etalab;<n>;<YYYY-MM-DD>``
(``n``: the extract's version, the date: its day). Every other line is a record whose first field
names its kind: ``structureet`` (one establishment, 32 fields and a trailing ``;``) or
``geolocalisation`` (its coordinates, ignored here). Fields are separated by ``;`` and may be
quoted with ``"``, a quote inside a field doubled.

Positions in a ``structureet`` record (0-based, the kind at 0), as published:

====  ==================  ====================================================
 1    nofinesset          FINESS of the establishment (ET, « géographique »)
 2    nofinessej          FINESS of its legal entity (EJ)
 3    rs                  raison sociale (short)
 4    rslongue            raison sociale (long)
 5    complrs             complement of the name
 6    compldistrib        address complement
 7–11 numvoie…lieuditbp   street number, type, name, complement, place
12    commune             INSEE commune code (3 digits)
13    departement         département: ``01``…``95``, ``2A``, ``2B``; overseas ``9A`` Guadeloupe,
                          ``9B`` Martinique, ``9C`` Guyane, ``9D`` La Réunion, ``9F`` Mayotte
14    libdepartement      its name
15    ligneacheminement   postcode and town
16–17 telephone, telecopie
18    categetab           category code (``500`` EHPAD, ``354`` SSIAD…)
19    libcategetab        category label
20–21 categagretab, libcategagretab   aggregate category
22    siret               SIRET (may be empty)
23    codeape             APE code
24–25 codemft, libmft     funding mode
26–27 codesph, libsph     public hospital service
28    dateouv             opening date (YYYY-MM-DD)
29    dateautor           authorisation date
30    datemaj             last update of the record
31    numuai              UAI number (schools)
====  ==================  ====================================================

The stock file has no closure date: an establishment missing from a newer extract has closed.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple, TypeVar

from service.domain.errors import Issue, ValidationFailed
from service.domain.identifiers import DEPARTMENT_REGION, FINESS_PATTERN, OVERSEAS_PREFIX_REGION

STRUCTURE = "structureet"
GEOLOCATION = "geolocalisation"
FIELDS = 32
#: The extract's overseas départements -> the four first characters of their FINESS numbers.
OVERSEAS_DEPARTMENTS = {"9A": "9701", "9B": "9702", "9C": "9703", "9D": "9704", "9F": "9805"}
_HEADER = re.compile(r"^finess;etalab;(\d+);(\d{4}-\d{2}-\d{2});*$")
_FINESS = re.compile(f"^{FINESS_PATTERN}$")
K = TypeVar("K")
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class ExtractHeader:
    version: int
    extracted_on: date


class ExtractRecord(NamedTuple):
    """What the registry keeps of a ``structureet`` record (a tuple: built for every record)."""

    finess: str
    finess_ej: str | None
    name: str
    long_name: str | None
    department: str
    region_code: str | None
    category_code: str | None
    category_label: str | None
    siret: str | None
    opened_on: date | None
    updated_on: date | None


def region_of_department(department: str) -> str | None:
    """The région of an extract's département; ``None`` for a territory without an ARS."""
    if department in OVERSEAS_DEPARTMENTS:
        return OVERSEAS_PREFIX_REGION.get(OVERSEAS_DEPARTMENTS[department])
    return DEPARTMENT_REGION.get(department)


def parse_header(line: str) -> ExtractHeader:
    match = _HEADER.match(line.strip().lstrip("\ufeff"))
    if match is None:
        raise ValidationFailed([Issue(code="finess_extract_header", field="file", row=1, message=(
            "Première ligne attendue : « finess;etalab;<version>;<AAAA-MM-JJ> » (extrait FINESS de data.gouv.fr), "
            f"lu « {line.strip()[:80]} »."))])
    try:
        extracted_on = date.fromisoformat(match.group(2))
    except ValueError:
        raise ValidationFailed([Issue(code="finess_extract_header", field="file", row=1,
                                      message=f"Date de l'extrait invalide : « {match.group(2)} ».")]) from None
    return ExtractHeader(version=int(match.group(1)), extracted_on=extracted_on)


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None  # an odd date in the public file is not a reason to refuse the whole extract


DAYS_KEPT = 50_000


class DayMemo(dict[K, V]):
    """``compute`` of each day (or day's text) met, computed once: an extract holds a few thousand
    distinct days. Emptied when it reaches ``DAYS_KEPT`` entries, so that memory stays flat
    whatever the file holds."""

    def __init__(self, compute: Callable[[K], V]) -> None:
        super().__init__()
        self._compute = compute

    def __missing__(self, key: K) -> V:
        if len(self) >= DAYS_KEPT:
            self.clear()
        value = self[key] = self._compute(key)
        return value


def parse_records(lines: Iterable[str], *, first_line: int = 2, max_issues: int = 100) -> Iterator[ExtractRecord]:
    """The establishments of the records after the header line, one at a time.

    A malformed ``structureet`` record (wrong number of fields, an invalid FINESS, an unknown
    département) is reported with its line number; all such problems are raised together at the
    end (at most ``max_issues``), so that a bad extract changes nothing.
    """
    issues: list[Issue] = []
    days = DayMemo(_day)
    # Runs for each of the extract's 100 000 records: one loop, names bound locally, tuples built
    # positionally (bench/finess_import.py).
    new, finess_ok, regions = tuple.__new__, _FINESS.match, _REGIONS
    for number, fields in enumerate(csv.reader(lines, delimiter=";", quotechar='"', doublequote=True),
                                    start=first_line):
        if not fields or fields[0] != STRUCTURE:
            continue  # geolocation records, blank lines
        count = len(fields)
        if count == FIELDS + 1 and fields[-1] == "":
            count = FIELDS  # the trailing ';'
        department = fields[13] if count == FIELDS else ""
        region = regions.get(department, _UNKNOWN)
        if count != FIELDS or region is _UNKNOWN or not finess_ok(fields[1]):
            if len(issues) < max_issues:
                issues.append(Issue(code="finess_extract_record", field="file", row=number,
                                    message=_problem(fields, count)))
            continue
        if issues:
            continue  # past the first problem, only look for more
        finess_ej, siret = fields[2], fields[22].strip()
        short, long_name = fields[3].strip()[:300], fields[4].strip()[:300]
        yield new(ExtractRecord, (
            fields[1], finess_ej if finess_ok(finess_ej) else None, short or long_name or fields[1],
            long_name or None, department, region, fields[18].strip()[:3] or None,
            fields[19].strip()[:200] or None, siret if len(siret) == 14 and siret.isdigit() else None,
            days[fields[28]], days[fields[30]]))
    if issues:
        raise ValidationFailed(issues)


def _problem(fields: list[str], count: int) -> str:
    """What is wrong with a refused record; ``count``: its fields, the trailing ';' not counted."""
    if count != FIELDS:
        found = len(fields) - (1 if fields[-1] == "" else 0)  # the record's trailing ';' is no field
        return f"Enregistrement « structureet » de {found} champs au lieu de {FIELDS}."
    if not _FINESS.match(fields[1]):
        return f"Numéro FINESS d'établissement invalide : « {fields[1][:20]} »."
    return f"Département inconnu : « {fields[13][:10]} » (FINESS {fields[1]})."


#: The région of every département an extract may name (``region_of_department``), computed once;
#: ``9E`` is accepted, with no région (a territory without an ARS).
_REGIONS = {d: region_of_department(d) for d in (*DEPARTMENT_REGION, *OVERSEAS_DEPARTMENTS, "9E")}
_UNKNOWN = object()
