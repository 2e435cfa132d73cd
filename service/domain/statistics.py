"""Peer statistics of the usage rates: quartiles per group, with small groups suppressed.

Quartiles are computed with the method of Hyndman and Fan's type 7 (linear interpolation between
the two nearest ranks; R's and NumPy's default, Excel's ``QUARTILE.INC``), which Python's
``statistics.quantiles(..., method="inclusive")`` implements. A group of fewer than
``SUPPRESSION_THRESHOLD`` establishments shows nothing but that it is suppressed: the threshold
French public statistics apply to business data, so that no establishment's figures can be read
from a published aggregate.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass

QUANTILE_METHOD = ("Hyndman & Fan type 7 : interpolation linéaire entre les deux rangs voisins (méthode par "
                   "défaut de R et de NumPy, QUARTILE.INCLUS d'Excel)")
SUPPRESSION_THRESHOLD = 3


@dataclass(frozen=True, slots=True)
class Summary:
    n: int
    p25: float
    median: float
    p75: float
    met_share: float | None

    def as_dict(self) -> dict[str, object]:
        return {"n": self.n, "p25": self.p25, "median": self.median, "p75": self.p75, "met_share": self.met_share}


def _round(value: float) -> float:
    return round(value + 0.0, 1)


def summarize(rates: Sequence[float], met: Sequence[bool]) -> Summary | None:
    """Quartiles of ``rates`` (the computable ones) and the share of ``met`` targets; ``None``
    when there is no rate at all."""
    if not rates:
        return None
    if len(rates) == 1:
        p25 = median = p75 = rates[0]
    else:
        p25, median, p75 = statistics.quantiles(rates, n=4, method="inclusive")
    share = _round(100 * sum(met) / len(met)) if met else None
    return Summary(n=len(rates), p25=_round(p25), median=_round(median), p75=_round(p75), met_share=share)


def suppressed(establishments: int) -> bool:
    return establishments < SUPPRESSION_THRESHOLD


def percentile_rank(value: float, peers: Sequence[float]) -> float | None:
    """The share of ``peers`` strictly below ``value`` plus half of those equal (mid-rank), in %."""
    if not peers:
        return None
    below = sum(1 for p in peers if p < value)
    equal = sum(1 for p in peers if p == value)
    return _round(100 * (below + equal / 2) / len(peers))
