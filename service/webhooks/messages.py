"""What a delivery carries, after Standard Webhooks 1.0: the event types, the secret, the body
and the signature.

The signature of an attempt is ``v1,`` + base64 of HMAC-SHA256 over
``"<webhook-id>.<webhook-timestamp>.<body>"``, keyed with the bytes of the secret (the base64
after ``whsec_``). The ``webhook-id`` is the delivery's and stays the same on every retry, so a
receiver can drop what it already has; the timestamp is the attempt's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from datetime import datetime
from typing import Any

from service.models import iso_z

#: Every event a subscription may ask for, with what it means (French, for the documentation).
EVENT_TYPES: dict[str, str] = {
    "submission.stored": "une version d'une déclaration est enregistrée",
    "review.decided": "l'ARS a rendu sa décision sur une version",
    "proof.stored": "une preuve d'usage est déposée",
    "proof_request.opened": "la CNSA demande une preuve (à rendre sous 48 heures)",
    "proof_request.overdue": "une demande de preuve est échue sans réponse",
    "milestone.opened": "un jalon (VA ou fin de projet) est ouvert",
    "deadline.extended": "l'échéance de fin de projet est reportée",
    "request.closed": "le solde est payé : la demande est close",
    "mandate.granted": "le porteur mandate l'éditeur pour une demande",
    "mandate.revoked": "le mandat de l'éditeur pour une demande prend fin",
}

SECRET_PREFIX = "whsec_"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def new_delivery_id() -> str:
    return "msg_" + uuid.uuid4().hex


def body_of(event_type: str, occurred_at: datetime, data: dict[str, Any]) -> str:
    """The JSON body, serialised once: every attempt sends these exact bytes."""
    return json.dumps({"type": event_type, "timestamp": iso_z(occurred_at), "data": data},
                      ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def signature(secret: str, delivery_id: str, timestamp: int, body: str) -> str:
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    mac = hmac.new(key, f"{delivery_id}.{timestamp}.{body}".encode(), hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")
