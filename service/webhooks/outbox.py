"""The outbox: a change queues its deliveries in its own transaction.

``emit`` is called by a use case next to its audit event: one ``webhook_delivery`` row per
active subscription that asked for the event and whose key may see the funding request (the
same rule as reads). The rows commit with the change or not at all, so a crash loses no event
and a refused change announces nothing; the deliverer sends them afterwards.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from service.domain.access import PROGRAMME_ZONE, Principal, RequestScope, Role, sees_request
from service.models import (
    API_KEY_TABLE,
    FUNDING_REQUEST_TABLE,
    MANDATE_TABLE,
    WEBHOOK_DELIVERY_TABLE,
    WEBHOOK_SUBSCRIPTION_TABLE,
    utcnow,
)
from service.scope import mandates_in_force
from service.webhooks.messages import EVENT_TYPES, body_of, new_delivery_id

_SUB = WEBHOOK_SUBSCRIPTION_TABLE
_KEY = API_KEY_TABLE
_REQ = FUNDING_REQUEST_TABLE
_MANDATE = MANDATE_TABLE
_DELIVERY = WEBHOOK_DELIVERY_TABLE

_LISTENERS = (sa.select(_SUB.c.id, _SUB.c.events, _KEY.c.id.label("key_id"), _KEY.c.role, _KEY.c.region_code,
                        _KEY.c.siret, _KEY.c.organisation_id)
              .join(_KEY, _KEY.c.id == _SUB.c.key_id)
              .where(_SUB.c.status == "active", _KEY.c.revoked_at.is_(None)))
_SCOPE = sa.select(_REQ.c.galis_ref, _REQ.c.siret, _REQ.c.region_code).where(_REQ.c.id == sa.bindparam("id"))
_MANDATED = (sa.select(_MANDATE.c.editeur_id).distinct()
             .where(_MANDATE.c.galis_ref == sa.bindparam("ref"), _MANDATE.c.editeur_id.in_(sa.bindparam("editeurs",
                                                                                                       expanding=True)),
                    mandates_in_force(sa.bindparam("today", type_=sa.Date))))


def emit(session: Session, event_type: str, *, request_id: int, data: dict[str, Any],
         occurred_at: datetime | None = None, also_organisation: int | None = None) -> int:
    """Queue ``event_type`` about funding request ``request_id`` for every subscription that
    may see it (and every subscription of ``also_organisation``'s keys: the éditeur a mandate
    was just withdrawn from), in the session's transaction; the number of deliveries queued."""
    assert event_type in EVENT_TYPES, event_type
    conn = session.connection()
    listeners = [row for row in conn.execute(_LISTENERS) if event_type in (row.events or ())]
    if not listeners:
        return 0
    req = conn.execute(_SCOPE, {"id": request_id}).one()
    scope = RequestScope(galis_ref=req.galis_ref, siret=req.siret, region_code=req.region_code)
    editeurs = sorted({row.organisation_id for row in listeners if row.role == Role.VENDOR.value})
    mandated = set(conn.execute(_MANDATED, {"ref": req.galis_ref, "editeurs": editeurs,
                                            "today": datetime.now(PROGRAMME_ZONE).date()}).scalars()) \
        if editeurs else set()
    audience = [row.id for row in listeners if row.organisation_id == also_organisation or sees_request(Principal(
        key_id=row.key_id, role=Role(row.role), region_code=row.region_code, siret=row.siret,
        galis_refs=frozenset((req.galis_ref,)) if row.organisation_id in mandated else frozenset()), scope)]
    if not audience:
        return 0
    now = utcnow()
    body = body_of(event_type, occurred_at or now, {"galis_ref": req.galis_ref, **data})
    conn.execute(sa.insert(_DELIVERY), [
        {"id": new_delivery_id(), "subscription_id": sub_id, "event_type": event_type, "body": body,
         "created_at": now, "status": "pending", "attempts": 0, "next_attempt_at": now}
        for sub_id in audience])
    return len(audience)


def cancel_pending(conn: sa.Connection, subscription_id: str) -> None:
    """What a subscription still had to receive is dropped (it was disabled or deleted)."""
    conn.execute(sa.update(_DELIVERY).where(_DELIVERY.c.subscription_id == subscription_id,
                                            _DELIVERY.c.status == "pending")
                 .values(status="cancelled", next_attempt_at=None))
