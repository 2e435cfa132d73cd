"""Risk score of a version for the CNSA control queue: pure rules, each with its reason.

Every rule that fires adds its points and a sentence an auditor can act on; the score is
their sum, capped at 100. The rules look for what makes a declared figure worth checking
against its proof:

==========================  ======  ================================================================
code                        points  why
==========================  ======  ================================================================
proofs_missing              30      at fin de projet the balance depends on proven figures
establishment_closed        25      a period reaching past the last FINESS extract that still listed an
                                    establishment now closed: usage declared for a closed structure
active_exceeds_accompanied  20      more active files than persons accompanied: impossible as such
copied_figures              20      identical counts on several establishments: copied, not measured
rate_at_target              15      a rate exactly at or just above its target: the figure that pays
rate_jump                   15      a rate moving by 20 points or more since the previous version
round_figures               10      every count a multiple of 10: estimated rather than counted
sent_near_deadline          10      a fin de projet version sent in the last week or after the deadline
==========================  ======  ================================================================
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date

from service.domain.indicators import FORMULAS, LABELS, Indicator, rate
from service.domain.lifecycle import Milestone
from service.domain.targets import INDICATOR_KEYS

#: A met rate less than this many points above its target is flagged (a warning to the porteur,
#: a reason for control).
NEAR_TARGET_POINTS = 1.0
#: A rate that moves by this many points or more since the previous version is flagged.
JUMP_POINTS = 20.0
NEAR_DEADLINE_DAYS = 7
MAX_SCORE = 100
#: Examples named in one reason; the others are counted.
EXAMPLES = 3

POINTS = {
    "proofs_missing": 30,
    "establishment_closed": 25,
    "active_exceeds_accompanied": 20,
    "copied_figures": 20,
    "rate_at_target": 15,
    "rate_jump": 15,
    "round_figures": 10,
    "sent_near_deadline": 10,
}


@dataclass(frozen=True, slots=True)
class Reason:
    code: str
    message: str
    points: int

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code, "message": self.message, "points": self.points}


@dataclass(frozen=True, slots=True)
class RowFacts:
    finess: str
    counts: Mapping[str, int]
    indicators: Mapping[str, Indicator]
    period_end: date | None = None


@dataclass(frozen=True, slots=True)
class Closure:
    """What the FINESS registry says of a closed establishment: the last extract that listed it,
    and the first that did not (the closure happened in between)."""

    last_seen_on: date
    closed_on: date


@dataclass(frozen=True, slots=True)
class VersionFacts:
    milestone: Milestone
    rows: Sequence[RowFacts]
    received_on: date
    due_on: date | None = None
    #: Counts of the previous version of the same milestone, by FINESS.
    previous: Mapping[str, Mapping[str, int]] | None = None
    proofs_missing: Sequence[str] = ()
    #: Closed establishments of the version, by FINESS (from the FINESS registry).
    closures: Mapping[str, Closure] | None = None


def score_of(reasons: Sequence[Reason] | Sequence[Mapping[str, object]]) -> int:
    total = sum(int(r.points if isinstance(r, Reason) else r["points"]) for r in reasons)  # type: ignore[call-overload]
    return min(MAX_SCORE, total)


def assess(facts: VersionFacts) -> list[Reason]:
    """Every reason that applies to the version, highest points first."""
    reasons = [r for r in (
        proofs_reason(facts.milestone, facts.proofs_missing, len(facts.rows)),
        closure_reason(facts.rows, facts.closures or {}),
        _active_exceeds_accompanied(facts.rows),
        _copied_figures(facts.rows),
        _rate_at_target(facts.rows),
        _rate_jump(facts.rows, facts.previous),
        _round_figures(facts.rows),
        _near_deadline(facts),
    ) if r is not None]
    return sorted(reasons, key=lambda r: -r.points)


def with_proofs(reasons: Sequence[Mapping[str, object]], milestone: Milestone, missing: Sequence[str],
                total: int) -> list[dict[str, object]]:
    """Stored reasons with the proof reason brought up to date (proofs arrive after the version)."""
    return replaced(reasons, "proofs_missing", proofs_reason(milestone, missing, total))


def replaced(reasons: Sequence[Mapping[str, object]], code: str, reason: Reason | None) -> list[dict[str, object]]:
    """Stored reasons with the one of ``code`` replaced by ``reason`` (or removed), highest points first."""
    kept = [dict(r) for r in reasons if r.get("code") != code]
    if reason is not None:
        kept.append(reason.as_dict())
    return sorted(kept, key=lambda r: -int(r["points"]))  # type: ignore[call-overload]


def closure_reason(rows: Sequence[RowFacts], closures: Mapping[str, Closure]) -> Reason | None:
    """Rows whose period reaches past the last extract that listed their (now closed) establishment."""
    found = sorted((r.finess, closures[r.finess], r.period_end) for r in rows
                   if r.finess in closures and r.period_end is not None
                   and r.period_end > closures[r.finess].last_seen_on)
    if not found:
        return None
    described = [f"{finess} (absent de l'extrait FINESS du {c.closed_on.isoformat()}, listé pour la dernière fois "
                 f"le {c.last_seen_on.isoformat()} ; période déclarée jusqu'au {end.isoformat()})"
                 for finess, c, end in found]
    return Reason("establishment_closed", (
        f"{_count(len(found), 'établissement')} {'fermé' if len(found) == 1 else 'fermés'} selon le répertoire FINESS "
        f"pendant la période déclarée : {_examples(described)}."), POINTS["establishment_closed"])


def proofs_reason(milestone: Milestone, missing: Sequence[str], total: int) -> Reason | None:
    if milestone is not Milestone.FIN_PROJET or not missing:
        return None
    return Reason("proofs_missing", (
        f"Fin de projet : {_count(len(missing), 'établissement')} sur {total} sans preuve d'usage "
        f"({_examples(sorted(missing))})."), POINTS["proofs_missing"])


def _active_exceeds_accompanied(rows: Sequence[RowFacts]) -> Reason | None:
    found = [r.finess for r in rows if r.counts["active_dui"] > r.counts["persons_accompanied"]]
    if not found:
        return None
    return Reason("active_exceeds_accompanied", (
        f"Plus de DUI actifs que de personnes accompagnées (G > H) pour {_count(len(found), 'établissement')} "
        f"({_examples(found)}) : le taux de dossiers actifs dépasse 100 %."), POINTS["active_exceeds_accompanied"])


def _copied_figures(rows: Sequence[RowFacts]) -> Reason | None:
    groups: dict[tuple[int, ...], list[str]] = defaultdict(list)
    for r in rows:
        values = tuple(r.counts.values())  # the same field order in every row
        if any(values):
            groups[values].append(r.finess)
    copies = [finess for finess in groups.values() if len(finess) > 1]
    if not copies:
        return None
    largest = max(copies, key=len)
    return Reason("copied_figures", (
        f"Les mêmes nombres (colonnes E à J) sont déclarés pour {len(largest)} établissements "
        f"({_examples(largest)})" + (f", et pour {len(copies) - 1} autre(s) groupe(s)" if len(copies) > 1 else "")
        + " : chiffres recopiés plutôt que mesurés ?"), POINTS["copied_figures"])


def _rate_at_target(rows: Sequence[RowFacts]) -> Reason | None:
    found: list[str] = []
    count = 0
    for r in rows:
        for key, ind in r.indicators.items():
            if ind.met and ind.rate is not None and ind.rate < ind.target + NEAR_TARGET_POINTS:
                count += 1
                if len(found) <= EXAMPLES:  # the sentence names a few; the others are counted
                    found.append(f"{LABELS[key].lower()} de {r.finess} à {_pct(ind.rate)} pour une cible de "
                                 f"{_pct(ind.target)}")
    if not count:
        return None
    return Reason("rate_at_target", (
        f"{_count(count, 'taux')} atteint(s) de justesse (moins d'un point au-dessus de la cible) : "
        f"{_examples(found, sep=' ; ', total=count)}."), POINTS["rate_at_target"])


def _rate_jump(rows: Sequence[RowFacts], previous: Mapping[str, Mapping[str, int]] | None) -> Reason | None:
    if not previous:
        return None
    found: list[str] = []
    count = 0
    for r in rows:
        before = previous.get(r.finess)
        if before is None or before == r.counts:
            continue
        for key in INDICATOR_KEYS:
            num, den = FORMULAS[key]
            now, then = r.indicators[key].rate, rate(before[num], before[den])
            if now is not None and then is not None and abs(now - then) >= JUMP_POINTS:
                count += 1
                if len(found) <= EXAMPLES:
                    found.append(f"{LABELS[key].lower()} de {r.finess} passé de {_pct(then)} à {_pct(now)}")
    if not count:
        return None
    return Reason("rate_jump", (
        f"{_count(count, 'taux')} en variation d'au moins {JUMP_POINTS:.0f} points depuis la version "
        f"précédente : {_examples(found, sep=' ; ', total=count)}."), POINTS["rate_jump"])


def _round_figures(rows: Sequence[RowFacts]) -> Reason | None:
    values = [v for r in rows for v in r.counts.values()]
    if len([v for v in values if v]) < 3 or any(v % 10 for v in values):
        return None
    return Reason("round_figures", (
        "Tous les nombres déclarés sont des multiples de 10 : valeurs estimées plutôt que comptées ?"),
        POINTS["round_figures"])


def _near_deadline(facts: VersionFacts) -> Reason | None:
    if facts.milestone is not Milestone.FIN_PROJET or facts.due_on is None:
        return None
    days = (facts.due_on - facts.received_on).days
    if days < 0:
        text = f"Version de fin de projet reçue {_count(-days, 'jour')} après l'échéance du {facts.due_on:%d/%m/%Y}."
    elif days <= NEAR_DEADLINE_DAYS:
        text = (f"Version de fin de projet reçue {_count(days, 'jour')} avant l'échéance du "
                f"{facts.due_on:%d/%m/%Y} : envoi de dernière minute.")
    else:
        return None
    return Reason("sent_near_deadline", text, POINTS["sent_near_deadline"])


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 or noun.endswith(("s", "x")) else f"{n} {noun}s"


def _pct(value: float) -> str:
    return f"{value:.1f}".replace(".", ",") + " %"


def _examples(items: Sequence[str], *, sep: str = ", ", total: int | None = None) -> str:
    shown = sep.join(items[:EXAMPLES])
    rest = (len(items) if total is None else total) - EXAMPLES
    return shown + (f"{sep}et {rest} autre(s)" if rest > 0 else "")
