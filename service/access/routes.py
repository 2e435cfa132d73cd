"""API keys: the listing and the revocation, for administrators (creation is on the command line)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path

from service.access import keys as use_cases
from service.access.schemas import ApiKeyOut
from service.domain import access
from service.http.deps import CurrentPrincipal, DatabaseDep, Page, ReadSession, Today
from service.http.problems import problem_responses
from service.http.routing import api_router, caller_rule
from service.http.schemas import Page as PageOut

router = api_router(tags=["cles-api"], dependencies=[caller_rule(access.require_may_manage_keys)])

PrefixPath = Annotated[str, Path(description="Préfixe de la clé (affiché à sa création).",
                                 pattern=use_cases.PREFIX_PATTERN, examples=["esms_6Lu3dEU"])]


@router.get(
    "/v1/api-keys",
    response_model=PageOut[ApiKeyOut],
    summary="Lister les clés d'API",
    description="Chaque clé, de la plus ancienne à la plus récente : préfixe, rôle, périmètre, libellé, création, "
                "dernière utilisation (à la minute près), expiration, révocation et état (`active`, `revoked`, "
                "`expired`). Jamais la clé elle-même : seule son empreinte est conservée. Administrateurs.",
    operation_id="list_api_keys",
    responses=problem_responses(401, 403, 422),
)
def list_api_keys(principal: CurrentPrincipal, session: ReadSession, page: Page, today: Today) -> Any:
    return use_cases.list_api_keys(session, page, today=today)


@router.post(
    "/v1/api-keys/{prefix}/revoke",
    response_model=ApiKeyOut,
    summary="Révoquer une clé d'API",
    description="La clé est refusée (401 `api_key_revoked`) au plus tard `SERVICE_API_KEY_CACHE_SECONDS` après "
                "la révocation, par tous les processus. Définitive ; l'événement est inscrit au journal d'audit. "
                "404 `api_key_not_found`, 409 `api_key_already_revoked`. Administrateurs.",
    operation_id="revoke_api_key",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def revoke_api_key(prefix: PrefixPath, principal: CurrentPrincipal, database: DatabaseDep) -> Any:
    return await database.writer.run(lambda session: use_cases.revoke_api_key(session, principal, prefix))
