"""The audit trail's digests, and the rules its stored events must satisfy.

Every change writes one event; its ``hash`` covers its own fields. Before the verifiable log,
events formed one hash chain: each ``hash`` also covered the ``hash`` of the event before it
(``prev_hash``), the first following ``GENESIS``. The chain ends where the log took over (the
*chain's end*, recorded once): events after it carry no ``prev_hash`` and are linked by the log's
Merkle tree instead, so that writers no longer queue behind one head. ``verify_events`` walks
both: an edit, removal or insertion inside the chain breaks a link; after it, an edited event
no longer matches its own hash (and its leaf, which the log checks).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

GENESIS = "0" * 64


def canonical(value: object) -> bytes:
    """The one byte form of a JSON value that digests are computed over."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def payload_digest(payload: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(payload)).hexdigest()


@dataclass(frozen=True, slots=True)
class Link:
    """What an event's hash covers."""

    seq: int
    occurred_at: datetime
    actor_key_id: int | None
    actor_role: str
    actor_label: str
    action: str
    object_type: str
    object_id: str
    galis_ref: str | None
    payload_digest: str
    #: The previous event's hash inside the chain; ``None`` after the chain's end.
    prev_hash: str | None
    #: The person who acted and the actor's organisation (events since organisations exist;
    #: covered by the hash and the leaf only when known, so that older events verify as written).
    actor_person_id: int | None = None
    actor_organisation_id: int | None = None

    def hash(self) -> str:
        fields: list[object] = [self.seq, self.occurred_at.isoformat(), self.actor_key_id, self.actor_role,
                                self.actor_label, self.action, self.object_type, self.object_id, self.galis_ref,
                                self.payload_digest, self.prev_hash]
        if self.actor_person_id is not None or self.actor_organisation_id is not None:
            fields += [self.actor_person_id, self.actor_organisation_id]
        return hashlib.sha256(canonical(fields)).hexdigest()

    def _actor(self) -> dict[str, object]:
        actor: dict[str, object] = {"key_id": self.actor_key_id, "role": self.actor_role, "label": self.actor_label}
        if self.actor_person_id is not None or self.actor_organisation_id is not None:
            actor |= {"person_id": self.actor_person_id, "organisation_id": self.actor_organisation_id}
        return actor

    def leaf(self) -> bytes:
        """The bytes of the event that the log's Merkle tree hashes: its canonical JSON, the
        payload by its digest (the payload itself is shown beside it)."""
        return canonical({
            "seq": self.seq, "occurred_at": self.occurred_at.isoformat().replace("+00:00", "Z"),
            "actor": self._actor(),
            "action": self.action, "object_type": self.object_type, "object_id": self.object_id,
            "galis_ref": self.galis_ref, "payload_digest": self.payload_digest,
        })


@dataclass(frozen=True, slots=True)
class StoredEvent:
    link: Link
    payload: Mapping[str, Any]
    hash: str


@dataclass(frozen=True, slots=True)
class BrokenLink:
    seq: int
    message: str


def verify_events(events: Iterable[StoredEvent], *, chain_end_seq: int,
                  chain_end_hash: str) -> tuple[int, BrokenLink | None]:
    """Walk the events in ``seq`` order; return how many were checked and the first broken link.

    ``chain_end_seq``/``chain_end_hash`` are the chain's recorded end: up to it, events follow one
    another without a gap, each linked to its predecessor (events removed at the end are found by
    comparing with it); after it, numbers may have gaps (a database sequence hands them out) and
    each event stands alone, checked against its own hash.
    """
    expected_seq, prev = 1, GENESIS
    count = 0
    for event in events:
        link = event.link
        if link.seq > chain_end_seq:
            if expected_seq - 1 != chain_end_seq or prev != chain_end_hash:
                break  # the chain was cut short: said below
            if link.prev_hash is not None:
                return count, BrokenLink(link.seq, f"événement n° {link.seq} : postérieur à la fin de la chaîne, il "
                                                   "ne peut pas désigner de prédécesseur (événement inséré ou modifié)")
        elif link.seq != expected_seq:
            return count, BrokenLink(expected_seq,
                                     f"événement n° {expected_seq} absent (suivant trouvé : n° {link.seq})")
        elif link.prev_hash != prev:
            return count, BrokenLink(link.seq, f"événement n° {link.seq} : l'empreinte de son prédécesseur ne "
                                               "correspond pas (événement précédent modifié ou retiré)")
        if payload_digest(event.payload) != link.payload_digest:
            return count, BrokenLink(link.seq, f"événement n° {link.seq} : le contenu ne correspond plus à son "
                                               "empreinte (contenu modifié)")
        if link.hash() != event.hash:
            return count, BrokenLink(link.seq, f"événement n° {link.seq} : l'empreinte de l'événement ne "
                                               "correspond pas à ses champs (événement modifié)")
        count += 1
        if link.seq <= chain_end_seq:
            prev, expected_seq = event.hash, expected_seq + 1
    if expected_seq - 1 != chain_end_seq or prev != chain_end_hash:
        return count, BrokenLink(expected_seq, f"la chaîne s'arrête à l'événement n° {expected_seq - 1} alors "
                                               f"que sa fin enregistrée est le n° {chain_end_seq} (événements "
                                               "retirés)")
    return count, None
