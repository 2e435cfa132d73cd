"""The log's Merkle tree in the database: the hashes of its perfect subtrees (``log_node``).

A perfect subtree of ``2**level`` leaves starting at leaf ``idx * 2**level`` is stored once,
when its last leaf is sequenced. The hash of any node of the tree — what proofs are made of —
is then a few stored hashes folded together, whatever the size of the log.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa

from service.domain import merkle
from service.models import LOG_NODE_TABLE

_NODE = LOG_NODE_TABLE
#: Subtrees asked for in one statement (two bound values each: well within SQLite's limit).
_KEYS_PER_QUERY = 2_000


def blocks(start: int, end: int) -> list[tuple[int, int]]:
    """The aligned perfect subtrees ``(level, idx)`` that make up the leaves ``[start, end)``,
    left to right (largest first): for a node of the tree, the RFC's split exactly."""
    found = []
    while start < end:
        level = (start & -start).bit_length() - 1 if start else (end - start).bit_length() - 1
        while start + (1 << level) > end:
            level -= 1
        found.append((level, start >> level))
        start += 1 << level
    return found


def fold(hashes: list[bytes]) -> bytes:
    """The node over perfect subtrees listed left to right: the right edge folded first."""
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = merkle.node_hash(left, result)
    return result


class TreeStore:
    """Subtree hashes read on one connection (``subtree`` is ``merkle.Subtree``)."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn

    def nodes(self, wanted: Iterable[tuple[int, int]]) -> dict[tuple[int, int], bytes]:
        keys = sorted(set(wanted))
        found: dict[tuple[int, int], bytes] = {}
        for at in range(0, len(keys), _KEYS_PER_QUERY):
            rows = self.conn.execute(sa.select(_NODE.c.level, _NODE.c.idx, _NODE.c.hash)
                                     .where(sa.tuple_(_NODE.c.level, _NODE.c.idx).in_(keys[at:at + _KEYS_PER_QUERY])))
            found.update({(int(r.level), int(r.idx)): bytes(r.hash) for r in rows})
        return found

    def subtree(self, start: int, end: int) -> bytes:
        wanted = blocks(start, end)
        found = self.nodes(wanted)
        missing = [key for key in wanted if key not in found]
        if missing:
            raise LookupError(f"log nodes missing: {missing[:4]}")
        return fold([found[key] for key in wanted])

    def root(self, size: int) -> bytes:
        return self.subtree(0, size) if size else merkle.EMPTY_ROOT

    def insert(self, nodes: list[tuple[int, int, bytes]]) -> None:
        if nodes:
            self.conn.execute(sa.insert(_NODE), [{"level": lv, "idx": i, "hash": h} for lv, i, h in nodes])


def append(frontier: list[tuple[int, int, bytes]], index: int, leaf_hash: bytes,
           new_nodes: list[tuple[int, int, bytes]] | None = None) -> None:
    """Add leaf ``index`` to the right edge (``frontier``: the perfect subtrees of the tree,
    largest first) and record every subtree it completes in ``new_nodes``, if given."""
    node = (0, index, leaf_hash)
    completed = [node]
    while frontier and frontier[-1][0] == node[0]:
        left = frontier.pop()
        node = (node[0] + 1, left[1] >> 1, merkle.node_hash(left[2], node[2]))
        completed.append(node)
    frontier.append(node)
    if new_nodes is not None:
        new_nodes.extend(completed)
