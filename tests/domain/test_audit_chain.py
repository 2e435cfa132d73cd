"""The audit chain: any edit, removal, insertion or truncation breaks a link."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

from service.domain import audit


def chain(n: int) -> list[audit.StoredEvent]:
    events, prev = [], audit.GENESIS
    for seq in range(1, n + 1):
        payload = {"version": seq, "comment": "é œ"}
        link = audit.Link(seq=seq, occurred_at=datetime(2024, 1, 1, 12, seq, tzinfo=UTC), actor_key_id=1,
                          actor_role="vendor", actor_label="Éditeur", action="submission_stored",
                          object_type="submission", object_id=f"s{seq}", galis_ref="12345678",
                          payload_digest=audit.payload_digest(payload), prev_hash=prev)
        events.append(audit.StoredEvent(link=link, payload=payload, hash=link.hash()))
        prev = events[-1].hash
    return events


def verify(events: list[audit.StoredEvent], head: audit.StoredEvent | None = None) -> audit.BrokenLink | None:
    last = head or events[-1]
    return audit.verify_chain(events, head_seq=last.link.seq, head_hash=last.hash)[1]


def test_an_intact_chain_verifies() -> None:
    events = chain(5)
    assert audit.verify_chain(events, head_seq=5, head_hash=events[-1].hash) == (5, None)
    assert audit.verify_chain([], head_seq=0, head_hash=audit.GENESIS) == (0, None)


def test_an_edited_payload_is_caught_at_its_event() -> None:
    events = chain(5)
    events[2] = dataclasses.replace(events[2], payload={"version": 99, "comment": "é œ"})
    broken = verify(events)
    assert broken is not None and broken.seq == 3 and "contenu modifié" in broken.message


def test_an_edited_field_is_caught_even_with_a_recomputed_digest() -> None:
    events = chain(5)
    link = dataclasses.replace(events[1].link, actor_label="Quelqu'un d'autre")
    events[1] = dataclasses.replace(events[1], link=link)
    assert verify(events).seq == 2  # type: ignore[union-attr]
    events[1] = dataclasses.replace(events[1], hash=link.hash())  # rewritten hash: the next link breaks
    assert verify(events).seq == 3  # type: ignore[union-attr]


def test_removed_inserted_and_truncated_events_are_caught() -> None:
    events = chain(5)
    assert "absent" in verify(events[:2] + events[3:]).message  # type: ignore[union-attr]
    assert verify(events[:4], head=events[4]).seq == 5  # type: ignore[union-attr]
    swapped = [events[0], events[2], events[1], events[3], events[4]]
    assert verify(swapped) is not None
