"""Subscriptions and their delivery log: the use cases behind ``/v1/webhooks``.

A subscription belongs to the key that created it: another key (an administrator's too) is told
it does not exist. Creating, deleting and disabling are audit events (the URL and the events, never
the secret, which is shown once, at creation).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from service.audit import trail as audit
from service.domain.access import Principal
from service.domain.errors import Conflict, Issue, NotFound, ValidationFailed
from service.kit.pagination import Key, Keyset, PageRequest
from service.models import (
    WEBHOOK_ATTEMPT_TABLE,
    WEBHOOK_DELIVERY_TABLE,
    WebhookSubscription,
    iso_z,
    utcnow,
)
from service.webhooks.messages import EVENT_TYPES, new_secret
from service.webhooks.outbox import cancel_pending

_DELIVERY = WEBHOOK_DELIVERY_TABLE
_ATTEMPT = WEBHOOK_ATTEMPT_TABLE
#: A key's subscriptions, oldest first; a subscription's deliveries, newest first.
_OLDEST_FIRST = Keyset(Key("at", WebhookSubscription.created_at, datetime), Key("id", WebhookSubscription.id, str))
_NEWEST_FIRST = Keyset(Key("at", _DELIVERY.c.created_at, datetime, descending=True),
                       Key("id", _DELIVERY.c.id, str, descending=True))
VISIBLE = ("active", "disabled")


def subscription_view(sub: WebhookSubscription) -> dict[str, Any]:
    return {"id": sub.id, "url": sub.url, "events": list(sub.events), "description": sub.description,
            "status": sub.status, "created_at": iso_z(sub.created_at), "disabled_at": iso_z(sub.disabled_at),
            "disabled_reason": sub.disabled_reason}


def _not_found(subscription_id: str) -> NotFound:
    return NotFound(f"Abonnement {subscription_id} introuvable.", code="webhook_not_found")


def load_subscription(session: Session, principal: Principal, subscription_id: str, *,
                      for_update: bool = False) -> WebhookSubscription:
    query = select(WebhookSubscription).where(WebhookSubscription.id == subscription_id)
    if for_update:
        query = query.with_for_update()
    sub = session.exec(query).first()
    if sub is None or sub.key_id != principal.key_id or sub.status not in VISIBLE:
        raise _not_found(subscription_id)
    return sub


def create_subscription(session: Session, principal: Principal, body: dict[str, Any], *,
                        max_per_key: int) -> dict[str, Any]:
    """Store a subscription whose URL the caller has checked (``targets.resolve``); its view with
    the secret."""
    events = sorted(set(body["events"]), key=list(EVENT_TYPES).index)
    unknown = [e for e in events if e not in EVENT_TYPES]
    if unknown or not events:
        raise ValidationFailed([Issue(code="invalid_choice", field="events", message=(
            f"Événement inconnu : {', '.join(unknown)} (admis : {', '.join(EVENT_TYPES)})." if unknown else
            "Au moins un événement est attendu."))])
    active = session.exec(select(sa.func.count()).select_from(WebhookSubscription).where(
        WebhookSubscription.key_id == principal.key_id, WebhookSubscription.status == "active")).one()
    if active >= max_per_key:
        raise Conflict(f"Cette clé a déjà {active} abonnements actifs ({max_per_key} au plus) : supprimez-en un "
                       "avant d'en créer un autre.", code="webhook_limit_reached")
    sub = WebhookSubscription(id=str(uuid.uuid4()), key_id=principal.key_id, url=body["url"].strip(), events=events,
                              description=body.get("description") or "", secret=new_secret(), created_at=utcnow())
    session.add(sub)
    session.flush()
    audit.record(session, principal, "webhook_subscribed", "webhook_subscription", sub.id,
                 payload={"url": sub.url, "events": events, "description": sub.description})
    return {**subscription_view(sub), "secret": sub.secret}


def list_subscriptions(session: Session, principal: Principal, page: PageRequest) -> dict[str, Any]:
    """The caller's subscriptions (active and disabled), oldest first; never their secret."""
    query = (select(WebhookSubscription)
             .where(WebhookSubscription.key_id == principal.key_id,
                    WebhookSubscription.status.in_(VISIBLE)))  # type: ignore[attr-defined]
    rows, next_cursor = _OLDEST_FIRST.page(list(session.exec(_OLDEST_FIRST.select(query, page))), page,
                                           lambda s: (s.created_at, s.id))
    return {"items": [subscription_view(s) for s in rows], "next_cursor": next_cursor}


def delete_subscription(session: Session, principal: Principal, subscription_id: str) -> None:
    """Stop the subscription for good: nothing pending is sent any more; its log stays stored."""
    sub = load_subscription(session, principal, subscription_id, for_update=True)
    now = utcnow()
    sub.status, sub.deleted_at = "deleted", now
    session.add(sub)
    session.flush()
    cancel_pending(session.connection(), sub.id)
    audit.record(session, principal, "webhook_deleted", "webhook_subscription", sub.id, payload={"url": sub.url})


def delivery_view(row: Any, attempts: list[Any]) -> dict[str, Any]:
    return {"id": row.id, "event": row.event_type, "created_at": iso_z(row.created_at), "status": row.status,
            "attempt_count": row.attempts, "next_attempt_at": iso_z(row.next_attempt_at),
            "delivered_at": iso_z(row.delivered_at), "last_status_code": row.last_status_code,
            "attempts": [{"attempted_at": iso_z(a.attempted_at), "status_code": a.status_code,
                          "duration_ms": a.duration_ms, "error": a.error} for a in attempts]}


def _attempts_of(session: Session, ids: list[str]) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {i: [] for i in ids}
    if ids:
        for a in session.connection().execute(sa.select(_ATTEMPT).where(_ATTEMPT.c.delivery_id.in_(ids))
                                              .order_by(_ATTEMPT.c.id)):
            found[a.delivery_id].append(a)
    return found


def list_deliveries(session: Session, principal: Principal, subscription_id: str, page: PageRequest,
                    *, status: str | None = None) -> dict[str, Any]:
    """The subscription's deliveries, newest first, each with every attempt."""
    sub = load_subscription(session, principal, subscription_id)
    query = sa.select(_DELIVERY).where(_DELIVERY.c.subscription_id == sub.id)
    if status is not None:
        query = query.where(_DELIVERY.c.status == status)
    rows, next_cursor = _NEWEST_FIRST.page(session.connection().execute(_NEWEST_FIRST.select(query, page)).all(),
                                           page, lambda r: (r.created_at, r.id))
    attempts = _attempts_of(session, [r.id for r in rows])
    return {"items": [delivery_view(r, attempts[r.id]) for r in rows], "next_cursor": next_cursor}


def retry_delivery(session: Session, principal: Principal, subscription_id: str, delivery_id: str) -> dict[str, Any]:
    """Make the delivery due now (whatever its state: delivered, failed or waiting for its next
    attempt), with the same ``webhook-id`` and body; audited."""
    sub = load_subscription(session, principal, subscription_id, for_update=True)
    conn = session.connection()
    row = conn.execute(sa.select(_DELIVERY).where(_DELIVERY.c.id == delivery_id,
                                                  _DELIVERY.c.subscription_id == sub.id)).one_or_none()
    if row is None:
        raise NotFound(f"Livraison {delivery_id} introuvable pour cet abonnement.", code="webhook_delivery_not_found")
    if sub.status != "active":
        raise Conflict(f"L'abonnement est désactivé ({sub.disabled_reason}) : rien ne lui est plus envoyé ; créez un "
                       "nouvel abonnement une fois le destinataire rétabli.", code="webhook_disabled")
    conn.execute(sa.update(_DELIVERY).where(_DELIVERY.c.id == delivery_id)
                 .values(status="pending", next_attempt_at=utcnow()))
    audit.record(session, principal, "webhook_delivery_retried", "webhook_delivery", delivery_id,
                 payload={"subscription_id": sub.id, "event": row.event_type, "previous_status": row.status})
    fresh = conn.execute(sa.select(_DELIVERY).where(_DELIVERY.c.id == delivery_id)).one()
    return delivery_view(fresh, _attempts_of(session, [delivery_id])[delivery_id])

