"""Target values of the five usage indicators, kept as data.

The 2024 instruction (DNS/DGCS/CNSA/2024/15) sets 90 / 90 / 90 / 70 / 70 %, but targets have
changed by campaign and by ESMS category, so they are looked up by (campaign year, FINESS
category) and every evaluation records which set it applied. The sets live in the database
(an administrator adds or replaces them; see ``service/targets.py``); ``INITIAL_SETS`` are the
two the service started with, and ``choose`` is the rule that picks one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

INDICATOR_KEYS = ("active_files", "personal_plan", "agenda", "mssante", "dmp")


@dataclass(frozen=True, slots=True)
class TargetSet:
    """One set of targets, in percent, with the text that defines it.

    ``binding`` is false when the balance of the funding does not depend on reaching
    the targets (the 2021 start-up phase, « amorçage »).
    """

    id: str
    label: str
    active_files: float
    personal_plan: float
    agenda: float
    mssante: float
    dmp: float
    binding: bool = True
    #: What it applies to: a campaign year (``None``: every campaign) and a FINESS category
    #: (``None``: every category).
    campaign_year: int | None = None
    category: str | None = None

    def target(self, key: str) -> float:
        return float(getattr(self, key))

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "label": self.label,
            "binding": self.binding,
            "values": {key: self.target(key) for key in INDICATOR_KEYS},
        }


DEFAULT_TARGETS = TargetSet(
    id="instruction-2024-15",
    label="Instruction DNS/DGCS/CNSA/2024/15 du 1er février 2024",
    active_files=90.0,
    personal_plan=90.0,
    agenda=90.0,
    mssante=70.0,
    dmp=70.0,
)

AMORCAGE_2021 = TargetSet(
    id="amorcage-2021",
    label="Phase d'amorçage 2021 : solde non conditionné à l'atteinte des cibles",
    active_files=90.0,
    personal_plan=90.0,
    agenda=90.0,
    mssante=70.0,
    dmp=70.0,
    binding=False,
    campaign_year=2021,
)

#: The sets the service started with (the migration that made targets data stores them).
INITIAL_SETS: tuple[TargetSet, ...] = (DEFAULT_TARGETS, AMORCAGE_2021)


def choose(sets: Iterable[TargetSet], *, campaign_year: int, category: str | None) -> TargetSet:
    """The set for an establishment of ``category`` in ``campaign_year``: the most specific of
    (that year and category), (that year, every category), (every year, that category), (every
    year, every category)."""
    by_scope = {(ts.campaign_year, ts.category): ts for ts in sets}
    for scope in ((campaign_year, category), (campaign_year, None), (None, category), (None, None)):
        if scope in by_scope and (scope[1] is None or category is not None):
            return by_scope[scope]
    raise LookupError("no target set for every campaign and category")


def targets_for(*, campaign_year: int, category: str | None, sets: Iterable[TargetSet] = INITIAL_SETS) -> TargetSet:
    """The target set that applies to an establishment of ``category`` in ``campaign_year``."""
    return choose(sets, campaign_year=campaign_year, category=category)
