"""Target values of the five usage indicators, kept as data.

The 2024 instruction (DNS/DGCS/CNSA/2024/15) sets 90 / 90 / 90 / 70 / 70 %, but targets have
changed by campaign and by ESMS category, so they are looked up by (campaign year, FINESS
category) and every evaluation records which set it applied.
"""

from __future__ import annotations

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
)

#: (campaign year, FINESS category or None for every category) -> target set.
#: A more specific key (year and category) wins over a year-wide one.
TARGET_SETS: dict[tuple[int, str | None], TargetSet] = {
    (2021, None): AMORCAGE_2021,
}

ALL_TARGET_SETS: dict[str, TargetSet] = {
    ts.id: ts for ts in (DEFAULT_TARGETS, *TARGET_SETS.values())
}


def targets_for(*, campaign_year: int, category: str | None) -> TargetSet:
    """The target set that applies to an establishment of ``category`` in ``campaign_year``."""
    if category is not None and (campaign_year, category) in TARGET_SETS:
        return TARGET_SETS[(campaign_year, category)]
    return TARGET_SETS.get((campaign_year, None), DEFAULT_TARGETS)
