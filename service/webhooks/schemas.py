"""API models of webhooks: what clients send and receive."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

WebhookEvent = Literal["submission.stored", "review.decided", "proof.stored", "proof_request.opened",
                       "proof_request.overdue", "milestone.opened", "deadline.extended", "request.closed",
                       "mandate.granted", "mandate.revoked"]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"url": "https://dui.example.fr/hooks/esms", "events": ["submission.stored", "review.decided"],
         "description": "Suivi des versions de nos clients"},
    ]})

    url: StrictStr = Field(min_length=1, max_length=2000,
                           description="Adresse https du destinataire ; refusée si l'hôte désigne une adresse de "
                                       "bouclage, privée ou lien-local (422 `webhook_url_forbidden`).")
    events: list[WebhookEvent] = Field(min_length=1, max_length=10, description="Événements voulus.")
    description: StrictStr = Field(default="", max_length=500, description="Libellé libre.")


class WebhookOut(BaseModel):
    id: str
    url: str
    events: list[WebhookEvent]
    description: str
    status: Literal["active", "disabled"] = Field(description="`disabled` : le destinataire a répondu 410, ou la clé "
                                                              "a été révoquée ou a expiré.")
    created_at: datetime
    disabled_at: datetime | None
    disabled_reason: str | None


class WebhookCreated(WebhookOut):
    secret: str = Field(description="Secret de signature (`whsec_…`), affiché cette fois seulement.")


class WebhookAttemptOut(BaseModel):
    attempted_at: datetime
    status_code: int | None = Field(description="Statut HTTP de la réponse ; null sans réponse.")
    duration_ms: int
    error: str | None = Field(description="Pourquoi la tentative a échoué, en clair ; null si livrée.")


class WebhookDeliveryOut(BaseModel):
    id: str = Field(description="L'en-tête `webhook-id`, identique à chaque tentative.")
    event: WebhookEvent
    created_at: datetime
    status: Literal["pending", "delivered", "failed", "cancelled"]
    attempt_count: int
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    last_status_code: int | None
    attempts: list[WebhookAttemptOut]
