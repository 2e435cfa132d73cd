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
    return audit.verify_events(events, chain_end_seq=last.link.seq, chain_end_hash=last.hash)[1]


def test_an_intact_chain_verifies() -> None:
    events = chain(5)
    assert audit.verify_events(events, chain_end_seq=5, chain_end_hash=events[-1].hash) == (5, None)
    assert audit.verify_events([], chain_end_seq=0, chain_end_hash=audit.GENESIS) == (0, None)


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


def after_the_chain(chained: list[audit.StoredEvent], numbers: list[int]) -> list[audit.StoredEvent]:
    """Events written after the chain's end: numbered by a sequence (gaps allowed), unlinked."""
    events = []
    for seq in numbers:
        payload = {"version": seq}
        link = audit.Link(seq=seq, occurred_at=datetime(2024, 1, 2, 12, seq, tzinfo=UTC), actor_key_id=None,
                          actor_role="admin", actor_label="ligne de commande", action="api_key_created",
                          object_type="api_key", object_id=f"k{seq}", galis_ref=None,
                          payload_digest=audit.payload_digest(payload), prev_hash=None)
        events.append(audit.StoredEvent(link=link, payload=payload, hash=link.hash()))
    return chained + events


def verify_ended(events: list[audit.StoredEvent], end: audit.StoredEvent) -> tuple[int, audit.BrokenLink | None]:
    return audit.verify_events(events, chain_end_seq=end.link.seq, chain_end_hash=end.hash)


def test_events_after_the_chain_end_stand_alone_with_gaps_in_their_numbers() -> None:
    chained = chain(3)
    events = after_the_chain(chained, [4, 7, 8, 12])
    assert verify_ended(events, chained[-1]) == (7, None)
    assert audit.verify_events(after_the_chain([], [3, 9]), chain_end_seq=0, chain_end_hash=audit.GENESIS) == (2, None)


def test_after_the_chain_end_an_edit_or_a_claimed_predecessor_is_caught() -> None:
    chained = chain(3)
    events = after_the_chain(chained, [4, 7, 8])
    edited = list(events)
    edited[4] = dataclasses.replace(edited[4], link=dataclasses.replace(edited[4].link, object_id="autre"))
    assert verify_ended(edited, chained[-1])[1].seq == 7  # type: ignore[union-attr]
    content = list(events)
    content[5] = dataclasses.replace(content[5], payload={"version": 99})
    broken = verify_ended(content, chained[-1])[1]
    assert broken is not None and broken.seq == 8 and "contenu modifié" in broken.message
    linked = list(events)
    link = dataclasses.replace(linked[3].link, prev_hash=chained[-1].hash)
    linked[3] = dataclasses.replace(linked[3], link=link, hash=link.hash())
    broken = verify_ended(linked, chained[-1])[1]
    assert broken is not None and broken.seq == 4 and "fin de la chaîne" in broken.message


def test_a_chain_cut_before_its_recorded_end_is_caught_even_with_later_events() -> None:
    chained = chain(5)
    events = after_the_chain(chained[:3], [6, 7])
    count, broken = verify_ended(events, chained[-1])
    assert count == 3 and broken is not None and "retirés" in broken.message
