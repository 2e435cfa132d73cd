"""A declaration of usage data: the rows of the CNSA template, their rules and their warnings.

One row per FINESS géographique, with the absolute counts of columns E–J and the collection
period K–L. ``parse_submission`` turns what a client sent (JSON today, the Excel template's
cells tomorrow: one pipeline, several parsers) into typed rows, collecting every error;
``evaluate_declaration`` applies the rules that need the funding request and the previous
version, and computes the indicators.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from service.domain import indicators
from service.domain.errors import InvalidIdentifier, Issue, ValidationFailed
from service.domain.identifiers import Finess
from service.domain.lifecycle import Milestone
from service.domain.risk import JUMP_POINTS, NEAR_TARGET_POINTS
from service.domain.targets import INDICATOR_KEYS, INITIAL_SETS, TargetSet, targets_for

#: JSON field -> template column letter and official French label.
COLUMNS: dict[str, tuple[str, str]] = {
    "galis_ref": ("A", "Référence de la demande GALIS"),
    "siret": ("B", "SIRET Porteur"),
    "finess": ("C", "FINESS Géographique"),
    "raison_sociale": ("D", "Raison sociale du FINESS géographique"),
    "dmp_fed": ("E", "Nombre de DMP alimentés"),
    "mss_messages_sent": ("F", "Nombre de messages envoyés via la MS Santé"),
    "active_dui": ("G", "Nombre de DUI actifs"),
    "persons_accompanied": ("H", "Nombre de personnes accompagnées par la structure"),
    "dui_with_personal_plan": ("I", "Nombre de DUI avec projet personnalisé"),
    "dui_with_agenda_event": ("J", "Nombre de DUI avec au moins événement d'agenda"),
    "period_start": ("K", "Premier jour de la période de recueil"),
    "period_end": ("L", "Dernier jour de la période de recueil"),
}

COUNT_FIELDS = (
    "dmp_fed",
    "mss_messages_sent",
    "active_dui",
    "persons_accompanied",
    "dui_with_personal_plan",
    "dui_with_agenda_event",
)
ROW_FIELDS = ("finess", "raison_sociale", *COUNT_FIELDS, "period_start", "period_end")
REQUIRED_ROW_FIELDS = tuple(f for f in ROW_FIELDS if f != "raison_sociale")
_ROW_FIELD_SET = frozenset(ROW_FIELDS)

MAX_COUNT = 1_000_000_000
MAX_NAME_LENGTH = 300
#: Shortest and longest collection periods, in days, that are not flagged:
#: three calendar months are at least 89 days, six at most 184.
MIN_PERIOD_DAYS = 89
MAX_PERIOD_DAYS = 184

_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def column_of(field_name: str) -> str | None:
    entry = COLUMNS.get(field_name)
    return entry[0] if entry else None


def _label(field_name: str) -> str:
    letter, label = COLUMNS[field_name]
    return f"{label} ({letter})"


def _issue(code: str, message: str, *, row: int | None, field_name: str | None) -> Issue:
    return Issue(
        code=code,
        message=message,
        row=row,
        column=column_of(field_name) if field_name else None,
        field=field_name,
    )


@dataclass(frozen=True, slots=True)
class DeclarationRow:
    """One establishment's declared counts for one collection period."""

    row: int
    finess: str
    raison_sociale: str | None
    dmp_fed: int
    mss_messages_sent: int
    active_dui: int
    persons_accompanied: int
    dui_with_personal_plan: int
    dui_with_agenda_event: int
    period_start: date
    period_end: date

    def counts(self) -> dict[str, int]:
        """Columns E–J by field name (spelled out: this runs for every row of every push)."""
        return {"dmp_fed": self.dmp_fed, "mss_messages_sent": self.mss_messages_sent, "active_dui": self.active_dui,
                "persons_accompanied": self.persons_accompanied,
                "dui_with_personal_plan": self.dui_with_personal_plan,
                "dui_with_agenda_event": self.dui_with_agenda_event}


@dataclass(frozen=True, slots=True)
class ParsedSubmission:
    milestone: Milestone
    rows: list[DeclarationRow]
    acknowledgements: tuple[Acknowledgement, ...] = ()
    provenance: Provenance | None = None


@dataclass(frozen=True, slots=True)
class Provenance:
    """Where the figures come from: the software that produced them and when they were extracted."""

    software_name: str | None
    software_version: str | None
    extracted_at: datetime | None

    def as_dict(self) -> dict[str, object]:
        software = ({"name": self.software_name, "version": self.software_version}
                    if self.software_name else None)
        extracted = self.extracted_at.isoformat().replace("+00:00", "Z") if self.extracted_at else None
        return {"software": software, "extracted_at": extracted}


#: Clock difference tolerated between a vendor's machine and the service for ``extracted_at``.
CLOCK_SKEW = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """A porteur's justification of one warning of its declaration (``code`` on ``finess``)."""

    code: str
    finess: str
    justification: str


#: Shortest justification of a warning accepted at fin de projet.
MIN_JUSTIFICATION = 10


@dataclass(frozen=True, slots=True)
class EvaluatedRow:
    row: DeclarationRow
    target_set: TargetSet
    indicators: dict[str, indicators.Indicator]
    #: ``row.counts()``, computed once.
    counts: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EvaluatedDeclaration:
    rows: list[EvaluatedRow]
    warnings: list[Issue] = field(default_factory=list)

    @property
    def targets_met(self) -> bool:
        return indicators.all_met([r.indicators for r in self.rows])


def _parse_count(value: object, *, row: int, name: str, issues: list[Issue]) -> int | None:
    if type(value) is int and 0 <= value <= MAX_COUNT:
        return value
    if value is None:
        issues.append(_issue("field_required", f"{_label(name)} : valeur obligatoire.", row=row, field_name=name))
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        issues.append(_issue(
            "not_an_integer",
            f"{_label(name)} : un nombre entier est attendu (lu « {value} »).",
            row=row, field_name=name,
        ))
        return None
    if value < 0:
        issues.append(_issue(
            "negative_count", f"{_label(name)} : le nombre ne peut pas être négatif (lu {value}).",
            row=row, field_name=name,
        ))
        return None
    if value > MAX_COUNT:
        issues.append(_issue(
            "count_out_of_range",
            f"{_label(name)} : valeur invraisemblable (lu {value}, maximum {MAX_COUNT}).",
            row=row, field_name=name,
        ))
        return None
    return value


def _parse_date(value: object, *, row: int, name: str, issues: list[Issue]) -> date | None:
    if value is None:
        issues.append(_issue("field_required", f"{_label(name)} : date obligatoire.", row=row, field_name=name))
        return None
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    issues.append(_issue(
        "invalid_date",
        f"{_label(name)} : date invalide (lu « {value} », attendu AAAA-MM-JJ).",
        row=row, field_name=name,
    ))
    return None


#: Characters no text of a declaration or a decision may hold: control characters, lone
#: surrogates (UTF-8 cannot carry them) and the non-characters U+FFFE, U+FFFF (XML, hence xlsx,
#: cannot). ``TEXT_PATTERN`` says the same to clients.
_UNREADABLE_CATEGORIES = ("Cc", "Cs")
_XML_NON_CHARACTERS = "\ufffe\uffff"
#: The characters a text may not hold, as a regular-expression range (JSON Schema's escapes):
#: control characters, lone surrogates, U+FFFE and U+FFFF (what ``readable`` refuses).
UNREADABLE_RANGES = r"\u0000-\u001f\u007f-\u009f\ud800-\udfff\ufffe\uffff"
TEXT_PATTERN = f"^[^{UNREADABLE_RANGES}]*$"
#: A text that also says something: at least one character that is not a space.
SAYS_SOMETHING = f"^[^{UNREADABLE_RANGES}]*[^\\s{UNREADABLE_RANGES}][^{UNREADABLE_RANGES}]*$"


def readable(text: str) -> bool:
    """No control character, no lone surrogate, no U+FFFE or U+FFFF (see ``TEXT_PATTERN``)."""
    return text.isprintable() or not any(
        unicodedata.category(ch) in _UNREADABLE_CATEGORIES or ch in _XML_NON_CHARACTERS for ch in text)


def parse_row(raw: object, *, row: int, today: date,
              known: Container[str] = frozenset()) -> tuple[DeclarationRow | None, list[Issue]]:
    """Type one row and check its own rules; return the row (or None) and every issue found.

    ``known`` holds FINESS already checked (those registered with the request): they are
    taken as they are, the others go through every FINESS rule.
    """
    issues: list[Issue] = []
    if not isinstance(raw, dict):
        return None, [_issue("row_not_object", "Chaque ligne doit être un objet JSON.", row=row, field_name=None)]
    for key in raw if not raw.keys() <= _ROW_FIELD_SET else ():
        if key not in ROW_FIELDS:
            issues.append(_issue(
                "unknown_field", f"Champ inconnu « {key} » : les champs admis sont {', '.join(ROW_FIELDS)}.",
                row=row, field_name=str(key),
            ))
    finess = _parse_finess(raw.get("finess"), row=row, known=known, issues=issues)
    name = _parse_name(raw.get("raison_sociale"), row=row, issues=issues)
    counts = {n: _parse_count(raw.get(n), row=row, name=n, issues=issues) for n in COUNT_FIELDS}
    start = _parse_date(raw.get("period_start"), row=row, name="period_start", issues=issues)
    end = _parse_date(raw.get("period_end"), row=row, name="period_end", issues=issues)
    _check_subsets(counts, row=row, issues=issues)
    _check_period(start, end, row=row, today=today, issues=issues)

    if issues or finess is None or start is None or end is None:
        return None, issues
    return DeclarationRow(
        row=row,
        finess=finess,
        raison_sociale=name,
        period_start=start,
        period_end=end,
        **{n: int(v) for n, v in counts.items() if v is not None},
    ), issues


def _parse_finess(raw: object, *, row: int, known: Container[str], issues: list[Issue]) -> str | None:
    if raw is None:
        issues.append(_issue("field_required", f"{_label('finess')} : valeur obligatoire.",
                             row=row, field_name="finess"))
        return None
    try:
        return raw if type(raw) is str and raw in known else Finess.parse(raw).value
    except InvalidIdentifier as exc:
        issues.append(_issue(exc.code, exc.message, row=row, field_name="finess"))
        return None


def _parse_name(raw: object, *, row: int, issues: list[Issue]) -> str | None:
    """The raison sociale, spaces folded (a spreadsheet cell's line breaks, runs of spaces)."""
    if raw is None:
        return None
    if not isinstance(raw, str):
        issues.append(_issue("not_text", f"{_label('raison_sociale')} : un texte est attendu.",
                             row=row, field_name="raison_sociale"))
        return None
    name = " ".join(raw.split()) or None
    if name is not None and not readable(name):
        issues.append(_issue(
            "text_invalid_characters",
            f"{_label('raison_sociale')} : le texte contient des caractères de contrôle ou invalides.",
            row=row, field_name="raison_sociale",
        ))
        return None
    if name is not None and len(name) > MAX_NAME_LENGTH:
        issues.append(_issue(
            "text_too_long",
            f"{_label('raison_sociale')} : {MAX_NAME_LENGTH} caractères au plus (lu {len(name)}).",
            row=row, field_name="raison_sociale",
        ))
    return name


def _check_subsets(counts: dict[str, int | None], *, row: int, issues: list[Issue]) -> None:
    """Columns I and J count DUI among the active ones (G)."""
    active = counts["active_dui"]
    for subset, code, what in (
        ("dui_with_personal_plan", "personal_plan_exceeds_active", "de DUI avec projet personnalisé"),
        ("dui_with_agenda_event", "agenda_exceeds_active", "de DUI avec au moins un événement d'agenda"),
    ):
        value = counts[subset]
        if value is not None and active is not None and value > active:
            issues.append(_issue(
                code,
                f"{_label(subset)} : le nombre {what} ({value}) ne peut pas dépasser "
                f"le nombre de DUI actifs (G = {active}).",
                row=row, field_name=subset,
            ))


def _check_period(start: date | None, end: date | None, *, row: int, today: date, issues: list[Issue]) -> None:
    """The collection period runs forward and is over."""
    if start is not None and end is not None and start > end:
        issues.append(_issue(
            "period_reversed",
            f"{_label('period_start')} : le premier jour ({start:%d/%m/%Y}) est postérieur "
            f"au dernier jour de la période (L = {end:%d/%m/%Y}).",
            row=row, field_name="period_start",
        ))
    if end is not None and end > today:
        issues.append(_issue(
            "period_end_in_future",
            f"{_label('period_end')} : le dernier jour de la période ({end:%d/%m/%Y}) est dans le futur.",
            row=row, field_name="period_end",
        ))


def parse_submission(
    payload: object,
    *,
    today: date,
    max_rows: int,
    expected: Mapping[str, object] | None = None,
    galis_ref: str = "",
    row_numbers: Sequence[int] | None = None,
    now: datetime | None = None,
) -> ParsedSubmission:
    """Parse a JSON submission body ``{"milestone": …, "rows": […]}`` and, when ``expected``
    (the FINESS of the request) is given, check that it covers them exactly. ``row_numbers``
    gives each row's number in issues (the sheet rows of a template); by default 1, 2, 3 …

    Raise ``ValidationFailed`` with every issue found, not only the first.
    """
    if not isinstance(payload, dict):
        raise ValidationFailed([_issue("body_not_object", "Le corps de la requête doit être un objet JSON.",
                                       row=None, field_name=None)])
    issues: list[Issue] = []
    for key in payload:
        if key not in ("milestone", "rows", "acknowledgements", "software", "extracted_at"):
            issues.append(_issue("unknown_field", f"Champ inconnu « {key} » : les champs admis sont milestone, rows, "
                                                  "acknowledgements, software, extracted_at.", row=None,
                                 field_name=str(key)))
    acknowledgements, ack_issues = parse_acknowledgements(payload.get("acknowledgements", []))
    issues.extend(ack_issues)
    milestone: Milestone | None = None
    try:
        milestone = Milestone.parse(payload.get("milestone"))
    except ValidationFailed as exc:
        issues.extend(exc.issues)

    raw_rows = payload.get("rows")
    rows: list[DeclarationRow] = []
    if not isinstance(raw_rows, list) or not raw_rows:
        issues.append(_issue("rows_missing", "« rows » doit être une liste contenant au moins une ligne.",
                             row=None, field_name="rows"))
    elif len(raw_rows) > max_rows:
        issues.append(_issue("too_many_rows", f"Une déclaration compte au plus {max_rows} lignes (lu {len(raw_rows)}).",
                             row=None, field_name="rows"))
    else:
        rows, row_issues, declared = parse_rows(raw_rows, today=today, numbers=row_numbers,
                                                known=expected if expected is not None else frozenset())
        issues.extend(row_issues)
        if expected is not None:
            # Rows with no FINESS at all (an empty cell, or one the template refused and handed over empty).
            blank = len({i.row for i in row_issues if i.field == "finess" and i.code == "field_required"})
            issues.extend(check_coverage(declared, expected=expected, galis_ref=galis_ref, blank=blank))
    provenance, provenance_issues = parse_provenance(payload.get("software"), payload.get("extracted_at"), rows,
                                                     now=now)
    issues.extend(provenance_issues)
    if issues or milestone is None:
        raise ValidationFailed(issues)
    return ParsedSubmission(milestone=milestone, rows=rows, acknowledgements=acknowledgements, provenance=provenance)


def parse_provenance(software: object, extracted_at: object, rows: Sequence[DeclarationRow], *,
                     now: datetime | None) -> tuple[Provenance | None, list[Issue]]:
    """``software: {name, version}`` and ``extracted_at`` (an instant with its zone), both optional;
    an extraction in the future, or before the end of a row's period, is refused."""
    if software is None and extracted_at is None:
        return None, []
    issues: list[Issue] = []
    name = version = None
    if software is not None:
        if (not isinstance(software, dict) or set(software) - {"name", "version"}
                or not all(isinstance(software.get(k), str) and 0 < len(software[k].strip()) <= 100
                           and readable(software[k]) for k in ("name", "version"))):
            issues.append(_issue("software_invalid", "« software » attendu : {\"name\": …, \"version\": …}, deux "
                                                     "textes de 100 caractères au plus.", row=None,
                                 field_name="software"))
        else:
            name, version = software["name"].strip(), software["version"].strip()
    moment = None
    if extracted_at is not None:
        try:
            if not isinstance(extracted_at, str):
                raise ValueError
            moment = datetime.fromisoformat(extracted_at.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                raise ValueError
            moment = moment.astimezone(UTC)
        except (ValueError, OverflowError):
            issues.append(_issue("extracted_at_invalid", "« extracted_at » attendu : un instant ISO 8601 avec son "
                                                         "fuseau, par exemple 2024-04-02T08:00:00Z.", row=None,
                                 field_name="extracted_at"))
            moment = None
    if moment is not None:
        if now is not None and moment > now + CLOCK_SKEW:
            issues.append(_issue("extracted_at_in_future", f"Extraction datée du {moment:%d/%m/%Y %H:%M} UTC, dans "
                                                           "le futur.", row=None, field_name="extracted_at"))
        for r in rows:
            if moment.date() < r.period_end:
                issues.append(_issue("extracted_before_period_end", (
                    f"Extraction du {moment:%d/%m/%Y} antérieure à la fin de la période déclarée "
                    f"({r.period_end:%d/%m/%Y}) pour le FINESS {r.finess}."), row=r.row, field_name="period_end"))
    return Provenance(software_name=name, software_version=version, extracted_at=moment), issues


def parse_acknowledgements(raw: object) -> tuple[tuple[Acknowledgement, ...], list[Issue]]:
    """``acknowledgements``: a list of ``{"code", "finess", "justification"}``."""
    if not isinstance(raw, list):
        return (), [_issue("acknowledgements_invalid", "« acknowledgements » doit être une liste.", row=None,
                           field_name="acknowledgements")]
    found, issues = [], []
    for index, item in enumerate(raw, start=1):
        where = f"acknowledgements[{index}]"
        if not isinstance(item, dict) or set(item) - {"code", "finess", "justification"}:
            issues.append(_issue("acknowledgement_invalid", f"{where} : objet attendu avec code, finess et "
                                                            "justification.", row=None, field_name="acknowledgements"))
            continue
        code, finess, text = item.get("code"), item.get("finess"), item.get("justification")
        if not all(isinstance(v, str) and v for v in (code, finess)) or not isinstance(text, str) \
                or len(text.strip()) < MIN_JUSTIFICATION or not readable(text):
            issues.append(_issue("acknowledgement_invalid", (
                f"{where} : le code de l'alerte, le FINESS et une justification d'au moins {MIN_JUSTIFICATION} "
                "caractères sont attendus."), row=None, field_name="acknowledgements"))
            continue
        found.append(Acknowledgement(code=str(code), finess=str(finess), justification=str(text).strip()[:2000]))
    return tuple(found), issues


def acknowledge(warnings: Sequence[Issue], rows: Sequence[DeclarationRow],
                acknowledgements: Sequence[Acknowledgement], *,
                required: bool) -> tuple[list[dict[str, object]], list[Issue]]:
    """The warnings as stored, each figure warning (one on a row) with its justification, and the
    problems: with ``required`` (fin de projet) a figure warning left unjustified; always, a
    justification matching no warning."""
    finess_of = {r.row: r.finess for r in rows}
    given = {(a.code, a.finess): a for a in acknowledgements}
    used: set[tuple[str, str]] = set()
    stored, problems = [], []
    for w in warnings:
        finess = finess_of.get(w.row) if w.row is not None else None
        entry = {**w.as_dict(), "finess": finess, "justification": None}
        if finess is not None:
            ack = given.get((w.code, finess))
            if ack is not None:
                entry["justification"] = ack.justification
                used.add((w.code, finess))
            elif required:
                problems.append(Issue(code="warning_not_acknowledged", row=w.row, column=w.column, field=w.field,
                                      message=f"Alerte à justifier (code « {w.code} », FINESS {finess}) : {w.message}"))
        stored.append(entry)
    for key in sorted(set(given) - used):
        problems.append(_issue("acknowledgement_unmatched", (
            f"Aucune alerte « {key[0]} » pour le FINESS {key[1]} dans cette déclaration : justification sans objet."),
            row=None, field_name="acknowledgements"))
    return stored, problems


def parse_rows(
    raw_rows: list[object], *, today: date, numbers: Sequence[int] | None = None,
    known: Container[str] = frozenset(),
) -> tuple[list[DeclarationRow], list[Issue], dict[str, int]]:
    """Parse every row and check that no FINESS appears twice.

    Return the valid rows, every issue, and each readable FINESS with its first row (also
    for rows refused for another reason, so coverage is not reported wrongly).
    """
    rows: list[DeclarationRow] = []
    issues: list[Issue] = []
    seen: dict[str, int] = {}
    for offset, raw in enumerate(raw_rows):
        number = numbers[offset] if numbers is not None else offset + 1
        parsed, row_issues = parse_row(raw, row=number, today=today, known=known)
        issues.extend(row_issues)
        finess = parsed.finess if parsed else _finess_or_none(raw)
        if finess is not None:
            if finess in seen:
                issues.append(_issue(
                    "finess_duplicate",
                    f"{_label('finess')} : le FINESS {finess} figure déjà à la ligne {seen[finess]} "
                    "(une seule ligne par établissement).",
                    row=number, field_name="finess",
                ))
            else:
                seen[finess] = number
        if parsed is not None:
            rows.append(parsed)
    return rows, issues, seen


def _finess_or_none(raw: object) -> str | None:
    if not isinstance(raw, dict):
        return None
    try:
        return Finess.parse(raw.get("finess")).value
    except InvalidIdentifier:
        return None


def check_coverage(declared: Mapping[str, int], *, expected: Mapping[str, object], galis_ref: str,
                   blank: int = 0) -> list[Issue]:
    """A declaration covers every establishment of its request and nothing else.

    ``declared`` maps each declared FINESS to its row number; ``blank`` counts the rows that
    carry no FINESS (an empty cell, or a cell the template refused, typed as a number). Those
    rows already carry their own error: when they may be the establishments missing, the
    missing ones are not reported a second time for the same cells.
    """
    issues: list[Issue] = []
    for finess, row in declared.items():
        if finess not in expected:
            issues.append(_issue(
                "finess_not_in_request",
                f"{_label('finess')} : le FINESS {finess} ne fait pas partie de la demande {galis_ref}.",
                row=row, field_name="finess",
            ))
    missing = sorted(set(expected) - set(declared))
    if blank >= len(missing):
        return issues
    for finess in missing:
        issues.append(_issue(
            "finess_missing",
            f"{_label('finess')} : l'établissement {finess} de la demande {galis_ref} n'est pas déclaré.",
            row=None, field_name="finess",
        ))
    return issues


def evaluate_declaration(
    rows: list[DeclarationRow],
    *,
    categories: Mapping[str, str | None],
    campaign_year: int,
    previous: Mapping[str, Mapping[str, int]] | None = None,
    target_sets: Sequence[TargetSet] = INITIAL_SETS,
) -> EvaluatedDeclaration:
    """Compute the indicators of every row against its target set and raise the warnings.

    ``categories`` maps each FINESS of the request to its ESMS category (targets may differ);
    ``previous`` holds the counts of the previous version of the same milestone, by FINESS;
    ``target_sets`` are the sets in force, among which ``targets.choose`` picks.
    """
    evaluated: list[EvaluatedRow] = []
    warnings: list[Issue] = []
    for r in rows:
        target_set = targets_for(campaign_year=campaign_year, category=categories.get(r.finess), sets=target_sets)
        counts = r.counts()
        evaluation = indicators.evaluate(counts, target_set)
        evaluated.append(EvaluatedRow(row=r, target_set=target_set, indicators=evaluation, counts=counts))
        warnings.extend(_row_warnings(r, evaluation))
        if previous is not None and r.finess in previous:
            warnings.extend(_jump_warnings(r, evaluation, previous[r.finess], target_set))
    return EvaluatedDeclaration(rows=evaluated, warnings=warnings)


def _row_warnings(r: DeclarationRow, evaluation: dict[str, indicators.Indicator]) -> list[Issue]:
    found: list[Issue] = []
    if r.active_dui > r.persons_accompanied:
        found.append(_issue(
            "active_exceeds_accompanied",
            f"{_label('active_dui')} : {r.active_dui} DUI actifs pour {r.persons_accompanied} personnes "
            "accompagnées (H) : le taux de dossiers actifs dépasse 100 %.",
            row=r.row, field_name="active_dui",
        ))
    if r.dmp_fed > r.dui_with_personal_plan:
        found.append(_issue(
            "dmp_exceeds_personal_plan",
            f"{_label('dmp_fed')} : {r.dmp_fed} DMP alimentés pour {r.dui_with_personal_plan} DUI avec "
            "projet personnalisé (I) : le taux d'utilisation du DMP dépasse 100 %.",
            row=r.row, field_name="dmp_fed",
        ))
    days = (r.period_end - r.period_start).days + 1
    if days < MIN_PERIOD_DAYS:
        found.append(_issue(
            "period_too_short",
            f"{_label('period_start')} : la période de recueil ne couvre que {days} jours, "
            "moins des 3 mois attendus.",
            row=r.row, field_name="period_start",
        ))
    elif days > MAX_PERIOD_DAYS:
        found.append(_issue(
            "period_too_long",
            f"{_label('period_start')} : la période de recueil couvre {days} jours, "
            "plus des 6 mois admis.",
            row=r.row, field_name="period_start",
        ))
    for key in INDICATOR_KEYS:
        ind = evaluation[key]
        if ind.met and ind.rate is not None and ind.rate < ind.target + NEAR_TARGET_POINTS:
            num_field = indicators.FORMULAS[key][0]
            found.append(_issue(
                "rate_at_target",
                f"{indicators.LABELS[key]} : {_fmt(ind.rate)} % pour une cible de {_fmt(ind.target)} % "
                "(taux atteint de justesse, à vérifier sur preuve).",
                row=r.row, field_name=num_field,
            ))
    return found


def _jump_warnings(
    r: DeclarationRow,
    evaluation: dict[str, indicators.Indicator],
    before: Mapping[str, int],
    target_set: TargetSet,
) -> list[Issue]:
    found: list[Issue] = []
    for key in INDICATOR_KEYS:
        num_field, den_field = indicators.FORMULAS[key]
        now, then = evaluation[key].rate, indicators.rate(before[num_field], before[den_field])
        if now is None or then is None or abs(now - then) < JUMP_POINTS:
            continue
        num_field = indicators.FORMULAS[key][0]
        found.append(_issue(
            "rate_jump",
            f"{indicators.LABELS[key]} : passe de {_fmt(then)} % à {_fmt(now)} % depuis la version "
            "précédente (écart de plus de 20 points).",
            row=r.row, field_name=num_field,
        ))
    return found


def _fmt(value: float) -> str:
    return f"{value:.1f}".replace(".", ",")


#: The fields of a row a dry run's diff compares, in template order.
DIFF_FIELDS = ("raison_sociale", *COUNT_FIELDS, "period_start", "period_end")


def version_diff(before: Mapping[str, Mapping[str, object]], after: Mapping[str, Mapping[str, object]],
                 before_met: Mapping[str, Mapping[str, bool | None]],
                 after_met: Mapping[str, Mapping[str, bool | None]]) -> dict[str, object]:
    """What a declaration changes against the latest stored version of its milestone, by FINESS:
    each field that changes (with its template column), each indicator whose ``met`` changes,
    and the FINESS added or removed. Rows and ``met`` maps are keyed by FINESS."""
    changed = []
    for finess in sorted(set(before) & set(after)):
        fields = [{"field": name, "column": COLUMNS[name][0], "before": _plain(before[finess].get(name)),
                   "after": _plain(after[finess].get(name))}
                  for name in DIFF_FIELDS if before[finess].get(name) != after[finess].get(name)]
        met = [{"indicator": key, "before": before_met[finess].get(key), "after": after_met[finess].get(key)}
               for key in INDICATOR_KEYS if before_met[finess].get(key) != after_met[finess].get(key)]
        if fields or met:
            changed.append({"finess": finess, "fields": fields, "indicators": met})
    return {"changed": changed, "added": sorted(set(after) - set(before)),
            "removed": sorted(set(before) - set(after))}


def _plain(value: object) -> object:
    return value.isoformat() if isinstance(value, date) else value
