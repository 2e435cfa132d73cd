"""Sending a stored object: hashed on the way, its last chunk held back until the digest matches."""

from __future__ import annotations

import hashlib
import io

import pytest

from service.kit.storage import CHUNK, CorruptProof, checked_chunks


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17])
def test_intact_bytes_are_sent_whole(size: int) -> None:
    content = bytes(range(256)) * (size // 256) + bytes(size % 256)
    handle = io.BytesIO(content)
    assert b"".join(checked_chunks(handle, hashlib.sha256(content).hexdigest())) == content
    assert handle.closed


def test_bytes_changed_since_their_check_never_reach_the_reader_whole() -> None:
    stored = b"x" * (3 * CHUNK + 17)
    changed = stored[:-1] + b"y"
    handle = io.BytesIO(changed)
    sent = []
    with pytest.raises(CorruptProof):
        for chunk in checked_chunks(handle, hashlib.sha256(stored).hexdigest()):
            sent.append(chunk)
    assert b"".join(sent) == changed[:3 * CHUNK]  # the last chunk, with the change, held back
    assert handle.closed
