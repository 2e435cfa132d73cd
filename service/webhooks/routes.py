"""Webhooks (Standard Webhooks 1.0): subscriptions of the calling key, their delivery log, retries."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Path, Query, Response, status
from starlette.concurrency import run_in_threadpool

from service.http.deps import CurrentPrincipal, DatabaseDep, Page, ReadSession, SettingsDep
from service.http.problems import problem_responses
from service.http.routing import api_router
from service.http.schemas import Page as PageOut
from service.webhooks import subscriptions as use_cases
from service.webhooks.addresses import TargetPolicy, TargetRefused, resolve
from service.webhooks.messages import EVENT_TYPES
from service.webhooks.schemas import WebhookCreate, WebhookCreated, WebhookDeliveryOut, WebhookOut

router = api_router(tags=["webhooks"])

WebhookIdPath = Annotated[str, Path(description="Identifiant de l'abonnement (UUID).",
                                    json_schema_extra={"format": "uuid"})]
DeliveryIdPath = Annotated[str, Path(description="Identifiant de la livraison (`webhook-id`, `msg_…`).",
                                     json_schema_extra={"pattern": "^msg_[0-9a-f]{32}$"})]

_EVENTS_DOC = "; ".join(f"`{name}` : {meaning}" for name, meaning in EVENT_TYPES.items())


@router.post(
    "/v1/webhooks",
    status_code=status.HTTP_201_CREATED,
    response_model=WebhookCreated,
    summary="S'abonner à des événements (webhook)",
    description="Toute clé. Chaque événement choisi qui concerne une demande que la clé peut lire est envoyé en "
                "`POST` JSON `{type, timestamp, data}` à l'adresse, signé selon Standard Webhooks 1.0 (en-têtes "
                "`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256>` avec le secret "
                "`whsec_…` rendu ici une seule fois), au moins une fois, le même `webhook-id` à chaque nouvel essai. "
                f"Événements : {_EVENTS_DOC}. L'adresse doit être en https ; un hôte qui désigne une adresse de "
                "bouclage, privée ou lien-local est refusé (422 `webhook_url_forbidden`), de même qu'un hôte "
                "introuvable (422 `webhook_url_unresolvable`) ; la vérification est refaite à chaque envoi. "
                "409 `webhook_limit_reached` au-delà de `SERVICE_WEBHOOKS_MAX_PER_KEY` abonnements actifs.",
    operation_id="create_webhook",
    responses=problem_responses(400, 401, 409, 422),
)
async def create_webhook(payload: WebhookCreate, principal: CurrentPrincipal, database: DatabaseDep,
                         settings: SettingsDep) -> Any:
    policy = TargetPolicy.from_settings(settings)
    try:  # the host is resolved outside any transaction
        await run_in_threadpool(resolve, payload.url, policy)
    except TargetRefused as exc:
        raise exc.as_validation() from None
    body = payload.model_dump(mode="json")
    return await database.writer.run(lambda session: use_cases.create_subscription(
        session, principal, body, max_per_key=settings.webhooks_max_per_key))


@router.get(
    "/v1/webhooks",
    response_model=PageOut[WebhookOut],
    summary="Lister ses abonnements",
    description="Les abonnements de la clé appelante (actifs et désactivés), du plus ancien au plus récent, "
                "sans leur secret.",
    operation_id="list_webhooks",
    responses=problem_responses(401, 422),
)
def list_webhooks(principal: CurrentPrincipal, session: ReadSession, page: Page) -> Any:
    return use_cases.list_subscriptions(session, principal, page)


@router.delete(
    "/v1/webhooks/{webhook_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    summary="Supprimer un abonnement",
    description="Plus rien n'est envoyé (les livraisons en attente sont annulées) ; l'historique reste conservé. "
                "404 `webhook_not_found` pour un abonnement d'une autre clé.",
    operation_id="delete_webhook",
    responses=problem_responses(401, 404),
)
async def delete_webhook(webhook_id: WebhookIdPath, principal: CurrentPrincipal, database: DatabaseDep) -> Response:
    await database.writer.run(lambda session: use_cases.delete_subscription(session, principal, webhook_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/v1/webhooks/{webhook_id}/deliveries",
    response_model=PageOut[WebhookDeliveryOut],
    summary="Journal des livraisons d'un abonnement",
    description="Chaque livraison, de la plus récente à la plus ancienne : événement, état (`pending`, "
                "`delivered`, `failed` une fois le calendrier de nouvelles tentatives épuisé, `cancelled`), "
                "prochaine tentative, et chaque tentative (heure, statut HTTP, durée, erreur).",
    operation_id="list_webhook_deliveries",
    responses=problem_responses(401, 404, 422),
)
def list_deliveries(
    webhook_id: WebhookIdPath, principal: CurrentPrincipal, session: ReadSession, page: Page,
    delivery_status: Annotated[Literal["pending", "delivered", "failed", "cancelled"] | None,
                               Query(alias="status", description="pending, delivered, failed ou cancelled.")] = None,
) -> Any:
    return use_cases.list_deliveries(session, principal, webhook_id, page, status=delivery_status)


@router.post(
    "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/retry",
    response_model=WebhookDeliveryOut,
    summary="Renvoyer une livraison",
    description="La livraison redevient due tout de suite (quel que soit son état), avec le même `webhook-id` et "
                "le même contenu. 409 `webhook_disabled` si l'abonnement est désactivé.",
    operation_id="retry_webhook_delivery",
    responses=problem_responses(401, 404, 409),
)
async def retry_delivery(webhook_id: WebhookIdPath, delivery_id: DeliveryIdPath, principal: CurrentPrincipal,
                         database: DatabaseDep) -> Any:
    return await database.writer.run(
        lambda session: use_cases.retry_delivery(session, principal, webhook_id, delivery_id))
