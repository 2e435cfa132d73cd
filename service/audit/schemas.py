"""API models of audit: what clients send and receive."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from service.http.schemas import Actor


class AuditActor(Actor):
    """The actor as recorded (``key_id``, ``role`` and ``label`` are covered by the event's hash),
    named as the service knows it now (``type``, ``id``, ``name``, ``organisation``)."""

    key_id: int | None


class AuditEventOut(BaseModel):
    seq: int = Field(description="Numéro de l'événement, unique et croissant (des numéros peuvent manquer ; "
                                 "l'ordre du journal est celui de `index`).")
    index: int | None = Field(description="Rang dans le journal vérifiable (0, 1, 2 …) ; null tant que l'événement "
                                          "n'est pas séquencé (une seconde au plus après l'enregistrement).")
    leaf: str = Field(description="Les octets exacts hachés dans l'arbre du journal (JSON canonique, base64).")
    occurred_at: datetime
    actor: AuditActor
    action: str
    object_type: str
    object_id: str
    galis_ref: str | None
    payload: dict[str, Any]
    payload_digest: str = Field(description="SHA-256 du contenu (JSON canonique).")
    prev_hash: str | None = Field(description="Empreinte de l'événement précédent dans la chaîne d'audit qui a "
                                              "précédé le journal vérifiable ; null pour les événements "
                                              "postérieurs, liés par l'arbre du journal.")
    hash: str = Field(description="Empreinte de cet événement, couvrant ses champs (et prev_hash s'il existe).")
