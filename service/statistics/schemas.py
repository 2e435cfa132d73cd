"""API models of statistics: what clients send and receive."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from service.domain.lifecycle import Milestone


class IndicatorSummary(BaseModel):
    n: int = Field(description="Établissements dont le taux est calculable.")
    p25: float
    median: float
    p75: float
    met_share: float | None = Field(description="Part des établissements qui atteignent la cible (%).")


class StatisticsBlock(BaseModel):
    suppressed: bool = Field(description="Moins de 3 établissements : rien n'est publié (secret statistique).")
    establishments: int | None
    indicators: dict[str, IndicatorSummary | None] | None


class StatisticsGroup(StatisticsBlock):
    group: dict[str, str | None]


class IndicatorStatistics(BaseModel):
    milestone: Milestone
    group_by: list[str]
    quantile_method: str
    suppression_threshold: int
    scope: str | None = Field(description="Région des groupes pour une ARS ; null : tout le programme.")
    national: StatisticsBlock
    groups: list[StatisticsGroup]


class PeerStanding(BaseModel):
    peers: int | None = Field(description="Établissements de même catégorie au taux calculable.")
    percentile_rank: float | None = Field(description="Part des pairs sous ce taux, la moitié des égaux comptée (%).")
    median: float | None
    suppressed: bool = Field(description="Moins de 3 pairs : rien n'est publié.")


class ComparedIndicator(BaseModel):
    numerator: int
    denominator: int
    rate: float | None
    target: float
    met: bool | None
    national: PeerStanding
    region: PeerStanding


class EstablishmentComparison(BaseModel):
    finess: str
    galis_ref: str
    category: str | None
    region_code: str
    milestone: Milestone
    version: int | None = Field(description="Dernière version du jalon ; null s'il n'y en a pas encore.")
    suppression_threshold: int
    indicators: dict[str, ComparedIndicator] | None


class ReportingGroup(BaseModel):
    group: str = Field(description="Code de région, ou éditeur (libellé de la clé qui a transmis la dernière version).")
    requests: int
    milestone_open: int = Field(description="Demandes dont le jalon est ouvert (et non soldées).")
    with_version: int = Field(description="Demandes ayant transmis au moins une version du jalon.")
    on_time: int = Field(description="Dernière version reçue avant l'échéance (fin de projet ; VA : toute version).")
    late: int = Field(description="Dernière version reçue après l'échéance, ou échéance passée sans version.")
    accepted: int
    rejected: int
    changes_requested: int
    proofs_complete: int = Field(description="Fin de projet : plus aucune preuve manquante dans le contrôle.")


class ReportingStatistics(BaseModel):
    milestone: Milestone
    group_by: Literal["region", "vendor"]
    scope: str | None
    groups: list[ReportingGroup]
