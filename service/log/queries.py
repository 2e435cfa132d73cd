"""Reading the log: the latest checkpoint, the key, inclusion and consistency proofs."""

from __future__ import annotations

import base64
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from service.domain import merkle
from service.domain.errors import Issue, NotFound, ValidationFailed
from service.log.keys import LogSigner
from service.log.tree import TreeStore, blocks, fold
from service.models import LOG_CHECKPOINT_TABLE, LOG_STATE_TABLE

_STATE = LOG_STATE_TABLE
_CHECKPOINT = LOG_CHECKPOINT_TABLE


def current_size(session: Session) -> int:
    return int(session.connection().execute(sa.select(_STATE.c.size).where(_STATE.c.id == 1)).scalar_one())


def checkpoint_note(session: Session, size: int | None = None) -> str:
    """The latest signed note, or the one of tree size ``size``."""
    query = sa.select(_CHECKPOINT.c.note)
    query = query.where(_CHECKPOINT.c.size == size) if size is not None else query
    note = session.connection().execute(query.order_by(_CHECKPOINT.c.size.desc()).limit(1)).scalar_one_or_none()
    if note is None:
        raise NotFound("Aucun point de contrôle signé de cette taille." if size is not None else
                       "Le journal n'a pas encore de point de contrôle signé : réessayez dans une seconde.",
                       code="checkpoint_not_found")
    return str(note)


def latest_timestamp(session: Session) -> tuple[int, bytes]:
    """The latest time-stamped checkpoint's size and its RFC 3161 reply."""
    row = session.connection().execute(
        sa.select(_CHECKPOINT.c.size, _CHECKPOINT.c.timestamp_reply).where(_CHECKPOINT.c.timestamp_reply.is_not(None))
        .order_by(_CHECKPOINT.c.size.desc()).limit(1)).one_or_none()
    if row is None:
        raise NotFound("Aucun point de contrôle horodaté (horodatage non configuré, ou pas encore fait).",
                       code="timestamp_not_found")
    return int(row.size), bytes(row.timestamp_reply)


def key_view(signer: LogSigner, *, origin: str) -> dict[str, Any]:
    key = signer.key
    return {"origin": origin, "key_name": key.name, "key_id": key.key_id.hex(),
            "public_key": base64.b64encode(key.public_key).decode(), "vkey": key.vkey}


def _impossible(field: str, message: str) -> ValidationFailed:
    return ValidationFailed([Issue(code="proof_impossible", field=field, message=message)])


def inclusion(session: Session, *, index: int, tree_size: int) -> dict[str, Any]:
    size = current_size(session)
    if tree_size > size:
        raise _impossible("tree_size", f"L'arbre ne compte que {size} feuille(s) : pas de preuve pour une taille de "
                                       f"{tree_size}.")
    if not 0 <= index < tree_size:
        raise _impossible("index", f"La feuille {index} n'est pas dans un arbre de {tree_size} feuille(s).")
    store = TreeStore(session.connection())
    proof = merkle.inclusion_proof(index, tree_size, store.subtree)
    return {"index": index, "tree_size": tree_size, "leaf_hash": store.subtree(index, index + 1).hex(),
            "root_hash": store.root(tree_size).hex(), "hashes": [h.hex() for h in proof]}


def consistency(session: Session, *, first: int, second: int) -> dict[str, Any]:
    size = current_size(session)
    if second > size:
        raise _impossible("second", f"L'arbre ne compte que {size} feuille(s) : pas de preuve jusqu'à {second}.")
    if not 0 < first <= second:
        raise _impossible("first", f"Une preuve de cohérence va d'une taille de 1 ou plus à une taille au moins "
                                   f"égale (demandé : {first} puis {second}).")
    store = TreeStore(session.connection())
    proof = merkle.consistency_proof(first, second, store.subtree)
    return {"first": first, "second": second, "first_root": store.root(first).hex(),
            "second_root": store.root(second).hex(), "hashes": [h.hex() for h in proof]}


def inclusion_proofs(session: Session, indexes: list[int], tree_size: int) -> dict[int, list[bytes]]:
    """The inclusion proofs of many leaves in one tree, with one read of the tree's nodes: a
    proof's path depends on the index and the size only, so the subtrees it needs are listed
    first, read together, then folded."""
    wanted: set[tuple[int, int]] = set()

    def note(start: int, end: int) -> bytes:
        wanted.update(blocks(start, end))
        return b""

    for index in indexes:
        merkle.inclusion_proof(index, tree_size, note)
    wanted.update(blocks(0, tree_size))
    found = TreeStore(session.connection()).nodes(wanted)

    def subtree(start: int, end: int) -> bytes:
        return fold([found[key] for key in blocks(start, end)])

    return {index: merkle.inclusion_proof(index, tree_size, subtree) for index in indexes}
