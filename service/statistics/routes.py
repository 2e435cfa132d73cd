"""Peer statistics of the usage indicators."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from fastapi import Query

from service.domain import access
from service.domain.lifecycle import Milestone
from service.http.deps import CurrentPrincipal, FinessPath, ReadSession, SettingsDep, Today
from service.http.limits import rate_class
from service.http.problems import problem_responses
from service.http.routing import api_router, caller_rule
from service.kit.rate_limits import EXPORTS
from service.statistics import use_cases
from service.statistics.schemas import EstablishmentComparison, IndicatorStatistics, ReportingStatistics

router = api_router(tags=["statistiques"], dependencies=[rate_class(EXPORTS)])  # the costly class


@router.get(
    "/v1/statistics/indicators",
    response_model=IndicatorStatistics,
    summary="Statistiques comparées des indicateurs",
    description="Sur la dernière version de chaque demande pour le jalon : par groupe (catégorie FINESS, région, "
                "département, ou catégorie et région) et par indicateur, le nombre d'établissements au taux "
                "calculable, les quartiles (méthode indiquée dans `quantile_method`) et la part qui atteint la "
                "cible ; le niveau national à part. Un groupe de moins de 3 établissements est masqué "
                "(`suppressed`). Une ARS voit les groupes de sa région et le niveau national ; la CNSA tout.",
    operation_id="indicator_statistics",
    responses=problem_responses(401, 403, 422),
    dependencies=[caller_rule(access.require_may_see_statistics)],
)
def indicator_statistics(
    principal: CurrentPrincipal, session: ReadSession,
    milestone: Annotated[Milestone, Query(description="`va` ou `fin_projet`.")],
    group_by: Annotated[Literal["category", "region", "department", "category,region"],
                        Query(description="Regroupement.")] = "category",
) -> Any:
    return use_cases.indicator_statistics(session, principal, milestone=milestone, group_by=group_by)


@router.get(
    "/v1/establishments/{finess}/comparison",
    response_model=EstablishmentComparison,
    summary="Un établissement face à ses pairs",
    description="Les taux de la dernière version du jalon pour cet établissement et, pour chacun, son rang "
                "centile parmi les établissements de même catégorie FINESS, au niveau national et dans sa région "
                "(part des pairs sous ce taux, la moitié des égaux comptée), avec la médiane des pairs ; rien "
                "n'est publié pour moins de 3 pairs. Même portée que la lecture de sa demande.",
    operation_id="establishment_comparison",
    responses=problem_responses(401, 404, 422),
)
def establishment_comparison(
    finess: FinessPath, principal: CurrentPrincipal, session: ReadSession,
    milestone: Annotated[Milestone, Query(description="`va` ou `fin_projet`.")],
) -> Any:
    return use_cases.comparison(session, principal, finess, milestone=milestone)


@router.get(
    "/v1/statistics/reporting",
    response_model=ReportingStatistics,
    summary="Taux de remontée par région ou par éditeur",
    description="Par région (ou par éditeur : la clé qui a transmis la dernière version), pour le jalon : les "
                "demandes, celles dont le jalon est ouvert, qui ont transmis une version, à temps ou en retard "
                "(échéance de fin de projet), acceptées, rejetées, à corriger, aux preuves complètes. Une ARS : "
                "sa région ; la CNSA : tout le programme.",
    operation_id="reporting_statistics",
    responses=problem_responses(401, 403, 422),
    dependencies=[caller_rule(access.require_may_see_statistics)],
)
def reporting_statistics(
    principal: CurrentPrincipal, session: ReadSession, today: Today, settings: SettingsDep,
    milestone: Annotated[Milestone, Query(description="`va` ou `fin_projet`.")],
    group_by: Annotated[Literal["region", "vendor"], Query(description="Regroupement.")] = "region",
) -> Any:
    return use_cases.reporting(session, principal, milestone=milestone, group_by=group_by, today=today,
                               zone=ZoneInfo(settings.timezone))
