"""RFC 3161 time-stamps of checkpoints: the log's word dated by an authority outside the service.

The request carries the SHA-256 of the note's bytes, a nonce, and asks for the authority's
certificate; the reply is kept whole (DER, ``application/timestamp-reply``) once its status,
imprint and nonce are checked, so that ``openssl ts -verify -data <note> -in <reply>`` works on
what the API hands out. No redirect is followed; the call is bounded by a timeout.
"""

from __future__ import annotations

import hashlib
import secrets

import httpx
from asn1crypto import algos, core, tsp

TIMEOUT_SECONDS = 15.0
MAX_REPLY_BYTES = 1_000_000


class TimestampError(Exception):
    """The authority did not give a usable time-stamp (French message)."""


def request_reply(url: str, data: bytes, *, timeout: float = TIMEOUT_SECONDS) -> bytes:
    """The authority's time-stamp reply (DER) over ``data``, checked."""
    digest = hashlib.sha256(data).digest()
    nonce = secrets.randbits(63)
    query = tsp.TimeStampReq({
        "version": "v1",
        "message_imprint": tsp.MessageImprint({"hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
                                               "hashed_message": digest}),
        "nonce": core.Integer(nonce), "cert_req": True,
    })
    try:
        response = httpx.post(url, content=query.dump(), timeout=timeout, follow_redirects=False,
                              headers={"Content-Type": "application/timestamp-query"})
    except httpx.HTTPError as exc:
        raise TimestampError(f"autorité d'horodatage injoignable ({type(exc).__name__})") from None
    if response.status_code != 200 or len(response.content) > MAX_REPLY_BYTES:
        raise TimestampError(f"l'autorité d'horodatage a répondu {response.status_code}")
    try:
        reply = tsp.TimeStampResp.load(response.content)
        status = reply["status"]["status"].native
        token = reply["time_stamp_token"]
        info = token["content"]["encap_content_info"]["content"].parsed
        imprint = info["message_imprint"]["hashed_message"].native
        answered_nonce = info["nonce"].native
    except (ValueError, TypeError, KeyError) as exc:
        raise TimestampError(f"réponse d'horodatage illisible ({exc})") from None
    if status not in ("granted", "granted_with_mods"):
        raise TimestampError(f"horodatage refusé par l'autorité ({status})")
    if imprint != digest or answered_nonce != nonce:
        raise TimestampError("la réponse d'horodatage ne porte pas sur le point de contrôle demandé")
    return response.content
