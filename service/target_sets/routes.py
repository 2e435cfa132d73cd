"""Target sets as data: listed by anyone, added or replaced by an administrator."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from service.domain import access
from service.http.deps import CurrentPrincipal, DatabaseDep, ReadSession
from service.http.problems import problem_responses
from service.http.routing import api_router, caller_rule
from service.target_sets import use_cases
from service.target_sets.schemas import TargetSetIn, TargetSetList, TargetSetView

router = api_router(tags=["cibles"])


@router.get(
    "/v1/target-sets",
    response_model=TargetSetList,
    summary="Jeux de cibles",
    description="Les cibles des cinq indicateurs, par campagne et catégorie FINESS : une version est évaluée avec "
                "le jeu le plus précis qui s'applique à sa campagne et à la catégorie de chaque établissement "
                "(campagne et catégorie, puis campagne, puis catégorie, puis le jeu par défaut), et chaque ligne "
                "garde le jeu appliqué. `used` : un jeu qui a servi ne change plus.",
    operation_id="list_target_sets",
    responses=problem_responses(401),
)
def list_target_sets(principal: CurrentPrincipal, session: ReadSession) -> Any:
    return use_cases.list_sets(session)


@router.post(
    "/v1/target-sets",
    response_model=TargetSetView,
    status_code=201,
    summary="Ajouter ou remplacer un jeu de cibles",
    description="Un identifiant nouveau ajoute un jeu (201) ; un identifiant existant le remplace (200) tant "
                "qu'aucune version ne l'a utilisé, 409 `target_set_in_use` ensuite. Une campagne et une catégorie "
                "n'ont qu'un jeu (409 `target_set_scope_taken`) ; un jeu s'applique toujours à défaut de tout "
                "autre (422 `target_set_default_required`). Administrateurs ; chaque changement est consigné au "
                "journal d'audit.",
    operation_id="put_target_set",
    responses={200: {"description": "Jeu remplacé.", "model": TargetSetView},
               **problem_responses(400, 401, 403, 409, 413, 415, 422)},
    dependencies=[caller_rule(access.require_may_manage_targets)],
)
async def put_target_set(payload: TargetSetIn, principal: CurrentPrincipal, database: DatabaseDep) -> Any:
    view, created = await database.writer.run(
        lambda session: use_cases.put_set(session, principal, payload.model_dump()))
    return JSONResponse(view, status_code=201 if created else 200)
