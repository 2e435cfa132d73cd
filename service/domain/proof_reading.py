"""What a proof's text says, and whether it says what was declared.

From the text of a proof, page by page (a PDF's text layer, or what OCR read), this finds:

* the FINESS numbers it names (nine characters whose Luhn key holds: a misread digit is not taken
  for another establishment);
* the figures next to their labels as DUI software and the CNSA guide word them (« DUI actifs »,
  « dossiers actifs », « file active », « personnes accompagnées », « projet personnalisé »,
  « agenda », « DMP », « MS Santé »…). A number belongs to the label nearest to it on its line;
  rates (followed by %), dates and identifiers are not figures;
* the dates: of the measure (« mesure du », « édité le », « situation au »…) and of the period
  (« du … au … »), written 02/04/2024, 2024-04-02 or « 2 avril 2024 ».

Then ``compare`` says, field by field, ``same``, ``different`` or ``absent``. Accusing an honest
porteur is worse than missing a figure: whenever the text is not clear — a field read with two
different values, nothing near a label — the verdict is ``absent``, never ``different``.

Pure: no I/O.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from service.domain.errors import InvalidIdentifier
from service.domain.french_time import MONTHS
from service.domain.identifiers import Finess

FIGURES = ("active_dui", "persons_accompanied", "dui_with_personal_plan", "dui_with_agenda_event", "dmp_fed",
           "mss_messages_sent")
DATES = ("measured_on", "period_start", "period_end")

#: The labels of each figure, as software and the guide word them (accents and case aside).
_LABELS: dict[str, tuple[str, ...]] = {
    "active_dui": (r"dui actifs?", r"dossiers? (?:usagers? )?(?:informatises? )?actifs?", r"file active"),
    "persons_accompanied": (r"personnes? accompagnees?", r"usagers? accompagnes?", r"personnes? suivies?"),
    "dui_with_personal_plan": (r"projets? personnalises?", r"projets? d'accompagnement personnalises?"),
    "dui_with_agenda_event": (r"agendas?", r"evenements? (?:d'|de l')?agenda", r"rendez-vous"),
    "dmp_fed": (r"dmp(?: alimentes?)?", r"dossiers? medicaux? partages?"),
    "mss_messages_sent": (r"ms ?sante", r"messageries? securisees?", r"messages? (?:mss )?envoyes?"),
}
_LABEL = re.compile("|".join(f"(?P<{field}>\\b(?:{'|'.join(words)})\\b)" for field, words in _LABELS.items()))

#: A count: digits, with dots between thousands (non-breaking spaces are joined first); not a
#: rate, not part of a date, an identifier or a decimal.
_NUMBER = re.compile(r"(?<![\w./-])(\d{1,3}(?:\.\d{3})+|\d+)(?![\w/-]|[.,]\d|\s?%)")
#: Thousands written with a non-breaking or thin space (« 1 234 »), joined before reading: a plain
#: space between digits may as well part two columns (« 120 130 »), which is then unclear.
_THOUSANDS = re.compile(r"(?<=\d)[\u202f\u00a0\u2009](?=\d{3}(?!\d))")

_YEAR = re.compile(r"(?:19|20)\d{2}")
_MONTH_WORDS = "|".join(MONTHS)
_DATE = re.compile(
    r"\b(?:(?P<d>\d{1,2})[/.-](?P<m>\d{1,2})[/.-](?P<y>\d{4})"
    r"|(?P<iy>\d{4})-(?P<im>\d{2})-(?P<id>\d{2})"
    rf"|(?P<wd>1er|\d{{1,2}}) (?P<wm>{_MONTH_WORDS.replace('é', 'e').replace('û', 'u')}) (?P<wy>\d{{4}}))\b")
#: What joins the two dates of a period (« du 01/01/2024 au 31/03/2024 », « 01/01/2024 - 31/03/2024 »).
_BETWEEN = re.compile(r"\s*(?:au|-|–|a|et le)\s*")
_MEASURE = re.compile(r"\b(?:date (?:de (?:la )?)?mesure|mesure (?:du|le|au)|mesure effectuee le|edite le|"
                      r"genere le|extrait le|extraction (?:du|le)|situation au|arrete au|etat au)\s*:?\s*$")
_FINESS = re.compile(r"(?<![\w])(?:\d{2}|2A|2B)\s?\d{3}\s?\d{4}(?![\w])", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Found:
    """A value read, the page it is on (from 1) and the words around it."""

    value: Any
    page: int
    excerpt: str


def plain(text: str) -> str:
    """Lower case, no accents, one space between words, typographic apostrophes and spaces
    made plain: what the patterns read (same length rules do not matter: excerpts come from
    the original line)."""
    decomposed = unicodedata.normalize("NFKD", text.replace("’", "'").replace("\u202f", " ").replace("\xa0", " "))
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).lower().split())


def _excerpt(line: str) -> str:
    return " ".join(line.split())[:160]


def _lines(pages: Sequence[str]) -> list[tuple[int, str, str]]:
    return [(number, line, plain(_THOUSANDS.sub("", line))) for number, page in enumerate(pages, start=1)
            for line in page.splitlines() if line.strip()]


def finess_numbers(pages: Sequence[str]) -> list[Found]:
    """Every FINESS named, once each, where it is first seen (its key checked)."""
    seen: dict[str, Found] = {}
    for number, line, _ in _lines(pages):
        for match in _FINESS.finditer(line):
            raw = match.group(0).replace(" ", "").upper()
            try:
                value = Finess.parse(raw).value
            except InvalidIdentifier:
                continue
            seen.setdefault(value, Found(value, number, _excerpt(line)))
    return list(seen.values())


def _dates_in(text: str) -> list[tuple[int, int, date]]:
    """The dates of a plain line: (start, end, date), invalid ones left out."""
    found = []
    for match in _DATE.finditer(text):
        g = match.groupdict()
        try:
            if g["y"]:
                day = date(int(g["y"]), int(g["m"]), int(g["d"]))
            elif g["iy"]:
                day = date(int(g["iy"]), int(g["im"]), int(g["id"]))
            else:
                months = [plain(m) for m in MONTHS]
                day = date(int(g["wy"]), months.index(g["wm"]) + 1, 1 if g["wd"] == "1er" else int(g["wd"]))
        except ValueError:
            continue
        found.append((match.start(), match.end(), day))
    return found


def figures(pages: Sequence[str]) -> dict[str, Found | None]:
    """Each figure, when the text gives it one value; ``None`` when it gives none or several."""
    candidates: dict[str, dict[int, Found]] = {field: {} for field in FIGURES}
    for number, line, text in _lines(pages):
        labels = [(m.start(), m.end(), m.lastgroup) for m in _LABEL.finditer(text)]
        if not labels:
            continue
        taken = [(start, end) for start, end, _ in _dates_in(text)]
        taken += [m.span() for m in _FINESS.finditer(text)]
        for match in _NUMBER.finditer(text):
            if any(start <= match.start() < end for start, end in taken):
                continue
            if _YEAR.fullmatch(match.group(1)):
                continue  # « 2024 » beside a label is a year far more often than a count
            value = int(match.group(1).replace(".", ""))
            # the label nearest to the number on its line (the gap between them, in characters)
            nearest = min(labels, key=lambda label: max(label[0] - match.end(), match.start() - label[1], 0))
            field = nearest[2]
            if field is not None:
                candidates[field].setdefault(value, Found(value, number, _excerpt(line)))
    return {field: next(iter(values.values())) if len(values) == 1 else None for field, values in candidates.items()}


def dates(pages: Sequence[str]) -> dict[str, Found | None]:
    """The date of the measure and the period measured, when the text says them once."""
    found: dict[str, dict[date, Found]] = {field: {} for field in DATES}
    for number, line, text in _lines(pages):
        spans = _dates_in(text)
        in_period: set[int] = set()
        for (s1, e1, first), (s2, _e2, last) in zip(spans, spans[1:], strict=False):
            if _BETWEEN.fullmatch(text[e1:s2]) and first <= last and not {s1, s2} & in_period:
                found["period_start"].setdefault(first, Found(first, number, _excerpt(line)))
                found["period_end"].setdefault(last, Found(last, number, _excerpt(line)))
                in_period |= {s1, s2}
        for start, _, day in spans:
            if start not in in_period and _MEASURE.search(text[:start].rstrip()):
                found["measured_on"].setdefault(day, Found(day, number, _excerpt(line)))
    return {field: next(iter(values.values())) if len(values) == 1 else None for field, values in found.items()}


def read_text(pages: Sequence[str]) -> dict[str, Any]:
    """Everything a proof's text says: ``finess`` (a list) and each figure and date (or None)."""
    return {"finess": finess_numbers(pages), **figures(pages), **dates(pages)}


@dataclass(frozen=True, slots=True)
class Verdict:
    field: str
    declared: Any
    read: Any
    verdict: str  # same, different, absent


def compare(declared: Mapping[str, Any], read: Mapping[str, Any]) -> list[Verdict]:
    """Field by field: the declared FINESS among those named, each declared figure and date
    against the one read. ``absent`` whenever nothing clear was read."""
    verdicts = []
    named = [found.value for found in read.get("finess") or []]
    finess = declared.get("finess")
    if finess is not None:
        verdicts.append(Verdict("finess", finess, finess if finess in named else (named or None),
                                "same" if finess in named else ("different" if named else "absent")))
    for field in (*FIGURES, *DATES):
        if declared.get(field) is None:
            continue
        found = read.get(field)
        if found is None:
            verdicts.append(Verdict(field, declared[field], None, "absent"))
        else:
            verdicts.append(Verdict(field, declared[field], found.value,
                                    "same" if found.value == declared[field] else "different"))
    return verdicts
