"""API models of notifications: the messages of a request's thread, a person's preferences and
the mails of the outbox."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr

from service.domain.notifications import MAX_MESSAGE, MESSAGE_PATTERN
from service.http.schemas import Actor


class MessageCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"body": "Bonjour,\nLa preuve du FINESS 240000372 sera déposée demain matin.\nCordialement,"}]})

    body: StrictStr = Field(min_length=1, max_length=MAX_MESSAGE, json_schema_extra={"pattern": MESSAGE_PATTERN},
                            description=f"Le message (au plus {MAX_MESSAGE} caractères ; retours à la ligne admis, "
                                        "aucun autre caractère de contrôle).")


class MessageOut(BaseModel):
    id: str
    kind: Literal["message", "notification"] = Field(
        description="`message` : écrit par une personne ou une clé ; `notification` : copie d'un courriel envoyé "
                    "par le service au sujet de la demande.")
    subject: str | None = Field(description="L'objet du courriel (notifications seulement).")
    body: str
    created_at: datetime
    author: Actor | None = Field(description="Qui l'a écrit (null pour une notification du service).")


class PreferenceOut(BaseModel):
    category: str
    label: str = Field(description="Ce que la catégorie recouvre.")
    mode: Literal["instant", "daily", "off"] = Field(
        description="`instant` : un courriel à chaque fois ; `daily` : dans le récapitulatif de chaque jour ouvré ; "
                    "`off` : rien.")
    default: Literal["instant", "daily", "off"]
    mandatory: bool = Field(description="Toujours envoyée aussitôt : un délai dont dépend le paiement en dépend.")


class Preferences(BaseModel):
    items: list[PreferenceOut]


class PreferenceChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    category: StrictStr = Field(max_length=40)
    mode: Literal["instant", "daily", "off"]


class PreferencesChange(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"items": [{"category": "review", "mode": "daily"}, {"category": "message", "mode": "off"}]}]})

    items: list[PreferenceChange] = Field(max_length=20, description="Les catégories à changer ; les autres restent "
                                                                     "telles quelles.")


class MailOut(BaseModel):
    id: str
    category: str
    galis_ref: str | None
    recipients: list[str]
    subject: str
    status: Literal["pending", "sent", "failed"]
    attempts: int
    created_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
    last_error: str | None
