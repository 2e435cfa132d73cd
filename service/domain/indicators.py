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

from decimal import Decimal
from typing import NamedTuple

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


class Indicator(NamedTuple):
    """One rate against its target (a tuple: built five times per row of every push)."""

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
    """Percentage rounded half-up to 0.1; ``None`` when the denominator is 0.

    Counts are non-negative integers: the rate in tenths of a percent is
    ``floor(1000 n / d + 1/2)``, computed exactly in integers.
    """
    if denominator == 0:
        return None
    return ((2000 * numerator + denominator) // (2 * denominator)) / 10


def exact_ratio_met(numerator: int, denominator: int, target: float) -> bool:
    """Whether numerator/denominator reaches ``target`` %, on exact values (not the rounded rate),
    so that 89.96 % does not count as 90 %."""
    tenths = _TARGET_TENTHS.get(target)
    if tenths is None:
        exact = Decimal(str(target)) * 10
        if exact != exact.to_integral_value():
            return Decimal(numerator) * 100 >= Decimal(str(target)) * Decimal(denominator)
        tenths = _TARGET_TENTHS.setdefault(target, int(exact))
    return numerator * 1000 >= tenths * denominator


#: Targets in tenths of a percent (targets are set to 0.1 at most), computed once each.
_TARGET_TENTHS: dict[float, int] = {}


def evaluate(counts: dict[str, int], targets: TargetSet) -> dict[str, Indicator]:
    """The five indicators of one establishment's counts against ``targets``.

    Same arithmetic as ``rate`` and ``exact_ratio_met``, inlined: this runs for every row.
    """
    result: dict[str, Indicator] = {}
    for key, num_field, den_field, target, tenths in _plan(targets):
        numerator, denominator = counts[num_field], counts[den_field]
        if denominator == 0:
            result[key] = Indicator(numerator, denominator, None, target, None)
            continue
        met = (numerator * 1000 >= tenths * denominator if tenths is not None
               else exact_ratio_met(numerator, denominator, target))
        result[key] = Indicator(numerator, denominator, ((2000 * numerator + denominator) // (2 * denominator)) / 10,
                                target, met)
    return result


_PLANS: dict[TargetSet, tuple[tuple[str, str, str, float, int | None], ...]] = {}


def _plan(targets: TargetSet) -> tuple[tuple[str, str, str, float, int | None], ...]:
    """Per indicator: key, numerator and denominator fields, target, target in tenths (if exact)."""
    plan = _PLANS.get(targets)
    if plan is None:
        steps = []
        for key in INDICATOR_KEYS:
            target = targets.target(key)
            exact = Decimal(str(target)) * 10
            tenths = int(exact) if exact == exact.to_integral_value() else None
            steps.append((key, *FORMULAS[key], target, tenths))
        plan = _PLANS.setdefault(targets, tuple(steps))
    return plan


def all_met(evaluations: list[dict[str, Indicator]]) -> bool:
    """True when every computable indicator of every establishment reaches its target.

    A non-computable indicator (denominator 0) is not counted as met: a structure with no
    active DUI has not shown its usage.
    """
    return all(ind.met is True for ev in evaluations for ind in ev.values())
