"""Checkpoints of the log as C2SP ``tlog-checkpoint`` signed notes.

The note's text is three lines, each ending with a newline: the origin, the tree size in
decimal, the root hash in base64. An empty line follows, then one line per signature:
``— <key name> <base64(key id ‖ Ed25519 signature of the text)>`` (an em dash, U+2014).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

from service.log.keys import LogKey, LogSigner

SIGNATURE_PREFIX = "\u2014 "
MAX_NOTE_BYTES = 1_000_000


class CheckpointError(Exception):
    """A note that is not a checkpoint of this log, or whose signature does not hold (French message)."""


@dataclass(frozen=True)
class Checkpoint:
    origin: str
    size: int
    root_hash: bytes

    def text(self) -> str:
        """The signed part of the note."""
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root_hash).decode()}\n"


def sign_checkpoint(checkpoint: Checkpoint, signer: LogSigner) -> str:
    text = checkpoint.text()
    signature = signer.sign(text.encode())
    line = base64.b64encode(signer.key.key_id + signature).decode()
    return f"{text}\n{SIGNATURE_PREFIX}{signer.key.name} {line}\n"


def parse_note(note: str) -> tuple[Checkpoint, list[tuple[str, bytes, bytes]]]:
    """The checkpoint and the signature lines ``(key name, key id, signature)`` of a note."""
    if len(note.encode()) > MAX_NOTE_BYTES:
        raise CheckpointError("Note trop volumineuse pour un point de contrôle.")
    text, separator, signatures = note.partition("\n\n")
    if not separator or not signatures.endswith("\n"):
        raise CheckpointError("Note mal formée : le texte, une ligne vide, puis les signatures, chacune terminée "
                              "par un saut de ligne.")
    lines = text.split("\n")
    if len(lines) < 3:
        raise CheckpointError("Point de contrôle incomplet : origine, taille et racine attendues.")
    origin, size_text, root_text = lines[0], lines[1], lines[2]
    if not size_text.isdigit() or (size_text != "0" and size_text.startswith("0")):
        raise CheckpointError(f"Taille d'arbre illisible « {size_text[:40]} ».")
    try:
        root_hash = base64.b64decode(root_text, validate=True)
    except binascii.Error:
        raise CheckpointError("Racine illisible (base64 attendu).") from None
    if len(root_hash) != 32:
        raise CheckpointError("La racine doit compter 32 octets (SHA-256).")
    parsed: list[tuple[str, bytes, bytes]] = []
    for line in signatures[:-1].split("\n"):
        if not line.startswith(SIGNATURE_PREFIX):
            raise CheckpointError("Ligne de signature mal formée (elle commence par « — »).")
        name, _, encoded = line[len(SIGNATURE_PREFIX):].partition(" ")
        try:
            raw = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise CheckpointError(f"Signature illisible pour la clé « {name} ».") from None
        if len(raw) < 5:
            raise CheckpointError(f"Signature trop courte pour la clé « {name} ».")
        parsed.append((name, raw[:4], raw[4:]))
    return Checkpoint(origin, int(size_text), root_hash), parsed


def verify_note(note: str, keys: Sequence[LogKey], *, origin: str) -> Checkpoint:
    """The checkpoint of ``note`` when it is this log's (``origin``) and one of ``keys`` signed it."""
    checkpoint, signatures = parse_note(note)
    if checkpoint.origin != origin:
        raise CheckpointError(f"Ce point de contrôle est celui du journal « {checkpoint.origin[:80]} », pas de "
                              f"« {origin} ».")
    text = note.partition("\n\n")[0] + "\n"
    for name, kid, signature in signatures:
        for key in keys:
            if key.name == name and key.key_id == kid and len(signature) == 64 and key.verifies(text.encode(),
                                                                                                signature):
                return checkpoint
    raise CheckpointError("Aucune signature de ce point de contrôle n'est celle d'une clé du journal.")
