"""API keys and who calls: every key for administrators, an organisation's keys for its
managers (creation, listing, revocation), and ``GET /v1/me``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path, status

from service.access import keys as use_cases
from service.access.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyOut, ApiKeyRotate, ApiKeyRotated, MeOut
from service.domain import access
from service.domain.access import Role
from service.http.deps import CurrentPrincipal, DatabaseDep, OrganisationIdPath, Page, ReadSession, Today
from service.http.problems import problem_responses
from service.http.routing import api_router, caller_rule
from service.http.schemas import Page as PageOut

router = api_router(tags=["cles-api"])

PrefixPath = Annotated[str, Path(description="Préfixe de la clé (affiché à sa création).",
                                 pattern=use_cases.PREFIX_PATTERN, examples=["esms_6Lu3dEU"])]


@router.get(
    "/v1/api-keys",
    response_model=PageOut[ApiKeyOut],
    summary="Lister les clés d'API",
    description="Chaque clé, de la plus ancienne à la plus récente : préfixe, rôle, organisation, périmètre, libellé, "
                "création, dernière utilisation (à la minute près), expiration, révocation et état (`active`, "
                "`revoked`, `expired`). Jamais la clé elle-même : seule son empreinte est conservée. Administrateurs.",
    operation_id="list_api_keys",
    responses=problem_responses(401, 403, 422),
    dependencies=[caller_rule(access.require_may_manage_keys)],
)
def list_api_keys(principal: CurrentPrincipal, session: ReadSession, page: Page, today: Today) -> Any:
    return use_cases.list_api_keys(session, page, today=today)


@router.post(
    "/v1/api-keys/{prefix}/revoke",
    response_model=ApiKeyOut,
    summary="Révoquer une clé d'API",
    description="La clé est refusée (401 `api_key_revoked`) au plus tard `SERVICE_API_KEY_CACHE_SECONDS` après "
                "la révocation, par tous les processus. Définitive ; l'événement est inscrit au journal d'audit. "
                "404 `api_key_not_found`, 409 `api_key_already_revoked`. Administrateurs, gestionnaires de "
                "l'organisation de la clé (403 `manager_required` pour un membre).",
    operation_id="revoke_api_key",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def revoke_api_key(prefix: PrefixPath, principal: CurrentPrincipal, database: DatabaseDep) -> Any:
    return await database.writer.run(lambda session: use_cases.revoke_api_key(session, principal, prefix))


@router.post(
    "/v1/api-keys/{prefix}/rotate",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyRotated,
    summary="Renouveler une clé d'API",
    description="Une nouvelle clé à la place de celle-ci : même organisation, même libellé, même statut de "
                "gestionnaire ; le secret est rendu ici une seule fois. L'ancienne est révoquée aussitôt, ou refusée "
                "à partir de `old_expires_on` (31 jours au plus) pour laisser le temps de la remplacer. 404 "
                "`api_key_not_found`, 409 `api_key_already_revoked`, 422 `old_expires_on_invalid`. "
                "Administrateurs, gestionnaires de l'organisation de la clé (403 `manager_required` pour un membre).",
    operation_id="rotate_api_key",
    responses=problem_responses(400, 401, 403, 404, 409, 422),
)
async def rotate_api_key(prefix: PrefixPath, payload: ApiKeyRotate, principal: CurrentPrincipal,
                         database: DatabaseDep, today: Today) -> Any:
    view, secret, old = await database.writer.run(lambda session: use_cases.rotate_api_key(
        session, principal, prefix, old_expires_on=payload.old_expires_on, expires_on=payload.expires_on,
        today=today))
    return {**view, "secret": secret, "replaces": old}


@router.post(
    "/v1/organisations/{organisation_id}/api-keys",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    summary="Créer une clé d'API de l'organisation",
    description="Gestionnaires de l'organisation, administrateurs (403 `manager_required` pour un membre). La clé "
                "agit avec le périmètre de l'organisation ; elle est rendue ici une seule fois (`secret`).",
    operation_id="create_organisation_api_key",
    responses=problem_responses(400, 401, 403, 404, 422),
)
async def create_organisation_api_key(organisation_id: OrganisationIdPath, payload: ApiKeyCreate,
                                      principal: CurrentPrincipal, database: DatabaseDep, today: Today) -> Any:
    view, secret = await database.writer.run(lambda session: use_cases.create_organisation_key(
        session, principal, organisation_id, label=payload.label.strip(), manager=payload.role == "manager",
        expires_on=payload.expires_on, today=today))
    return {**view, "secret": secret}


@router.get(
    "/v1/organisations/{organisation_id}/api-keys",
    response_model=PageOut[ApiKeyOut],
    summary="Lister les clés d'API de l'organisation",
    description="Gestionnaires de l'organisation, administrateurs (403 `manager_required` pour un membre).",
    operation_id="list_organisation_api_keys",
    responses=problem_responses(401, 403, 404, 422),
)
def list_organisation_api_keys(organisation_id: OrganisationIdPath, principal: CurrentPrincipal,
                               session: ReadSession, page: Page, today: Today) -> Any:
    return use_cases.list_organisation_keys(session, principal, organisation_id, page, today=today)


@router.get(
    "/v1/me",
    response_model=MeOut,
    summary="Qui appelle",
    description="La personne ou la clé qui appelle, son organisation, son rôle et son périmètre (pour un éditeur, "
                "les demandes pour lesquelles il est mandaté aujourd'hui).",
    operation_id="get_me",
    responses=problem_responses(401),
)
async def get_me(principal: CurrentPrincipal) -> Any:
    return {"type": "person" if principal.person_id else "api_key", "id": principal.person_id or principal.key_id,
            "name": principal.label, "role": principal.role.value, "manager": principal.manager,
            "organisation": {"id": principal.organisation_id, "name": principal.organisation_name,
                             "kind": principal.kind.value} if principal.organisation_id else None,
            "scope": {"region_code": principal.region_code, "siret": principal.siret,
                      "galis_refs": sorted(principal.galis_refs) if principal.role is Role.VENDOR else None}}
