"""The five usage indicators and their rates.

Vendors and porteurs declare absolute counts; the service computes the rates:

=============  ===========================================  =========  ===========
key            indicator                                    numerator  denominator
=============  ===========================================  =========  ===========
active_files   Taux de dossiers actifs                      G          H
personal_plan  … avec un projet personnalisé                I          G
agenda         … avec au moins un événement d'agenda        J          G
mssante        Taux d'utilisation de la MS Santé            F          I
dmp            Taux d'utilisation du DMP                    E          I
=============  ===========================================  =========  ===========

A denominator of 0 gives no rate: the indicator is « non calculable », neither met nor missed.
The MSSanté rate is a mean of messages per person and may exceed 100 %.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from service.domain.targets import INDICATOR_KEYS, TargetSet

LABELS: dict[str, str] = {
    "active_files": "Taux de dossiers actifs",
    "personal_plan": "Taux de dossiers actifs avec un projet personnalisé",
    "agenda": "Taux de dossiers actifs ayant au moins un événement d'agenda",
    "mssante": "Taux d'utilisation de la MS Santé",
    "dmp": "Taux d'utilisation du DMP",
}

#: indicator -> (numerator field, denominator field)
FORMULAS: dict[str, tuple[str, str]] = {
    "active_files": ("active_dui", "persons_accompanied"),
    "personal_plan": ("dui_with_personal_plan", "active_dui"),
    "agenda": ("dui_with_agenda_event", "active_dui"),
    "mssante": ("mss_messages_sent", "dui_with_personal_plan"),
    "dmp": ("dmp_fed", "dui_with_personal_plan"),
}


@dataclass(frozen=True, slots=True)
class Indicator:
    numerator: int
    denominator: int
    rate: float | None
    target: float
    met: bool | None

    def as_dict(self) -> dict[str, object]:
        return {
            "numerator": self.numerator,
            "denominator": self.denominator,
            "rate": self.rate,
            "target": self.target,
            "met": self.met,
        }


def rate(numerator: int, denominator: int) -> float | None:
    """Percentage rounded half-up to 0.1; ``None`` when the denominator is 0."""
    if denominator == 0:
        return None
    value = (Decimal(numerator) * 100 / Decimal(denominator)).quantize(
        Decimal("0.1"), rounding=ROUND_HALF_UP
    )
    return float(value)


def exact_ratio_met(numerator: int, denominator: int, target: float) -> bool:
    """Whether numerator/denominator reaches ``target`` %, on exact values (not the rounded rate),
    so that 89.96 % does not count as 90 %."""
    return Decimal(numerator) * 100 >= Decimal(str(target)) * Decimal(denominator)


def evaluate(counts: dict[str, int], targets: TargetSet) -> dict[str, Indicator]:
    """The five indicators of one establishment's counts against ``targets``."""
    result: dict[str, Indicator] = {}
    for key in INDICATOR_KEYS:
        num_field, den_field = FORMULAS[key]
        numerator, denominator = counts[num_field], counts[den_field]
        target = targets.target(key)
        value = rate(numerator, denominator)
        met = None if value is None else exact_ratio_met(numerator, denominator, target)
        result[key] = Indicator(numerator, denominator, value, target, met)
    return result


def all_met(evaluations: list[dict[str, Indicator]]) -> bool:
    """True when every computable indicator of every establishment reaches its target.

    A non-computable indicator (denominator 0) is not counted as met: a structure with no
    active DUI has not shown its usage.
    """
    return all(ind.met is True for ev in evaluations for ind in ev.values())
