"""Checkpoints as C2SP signed notes, checked by a verifier written from the specifications with
``hashlib``, ``base64`` and ``cryptography`` only, and the log key's life (development key kept,
production key, retired keys)."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from service.domain import merkle
from service.log.checkpoint import Checkpoint, CheckpointError, sign_checkpoint, verify_note
from service.log.keys import LogKey, LogKeyError, LogSigner
from tests.conftest import make_settings

ORIGIN = "esms-numerique.invalid/indicateurs-usage"


def outsider_verifies(note: str, vkey: str) -> tuple[str, int, bytes]:
    """What an auditor's own tool does with the note and the published verifier key."""
    name, key_id_hex, encoded = vkey.split("+", 2)
    raw = base64.b64decode(encoded)
    assert raw[0] == 0x01  # Ed25519
    public = raw[1:]
    assert hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4].hex() == key_id_hex
    text, _, signatures = note.partition("\n\n")
    text += "\n"
    for line in signatures.splitlines():
        assert line.startswith("\u2014 ")
        signer, blob = line[2:].split(" ")
        decoded = base64.b64decode(blob)
        if signer == name and decoded[:4].hex() == key_id_hex:
            Ed25519PublicKey.from_public_bytes(public).verify(decoded[4:], text.encode())  # raises if wrong
            origin, size, root = text.split("\n")[:3]
            return origin, int(size), base64.b64decode(root)
    raise AssertionError("no signature by that key")


@pytest.fixture
def signer(tmp_path: Path) -> LogSigner:
    return LogSigner.development(tmp_path / "log", ORIGIN)


class TestSignedNote:
    def test_the_note_has_the_c2sp_shape_and_an_outsider_verifies_it(self, signer: LogSigner) -> None:
        tree_root = merkle.root([merkle.leaf_hash(b"a"), merkle.leaf_hash(b"b")])
        note = sign_checkpoint(Checkpoint(ORIGIN, 2, tree_root), signer)
        lines = note.split("\n")
        assert lines[:4] == [ORIGIN, "2", base64.b64encode(tree_root).decode(), ""]
        assert lines[4].startswith(f"\u2014 {ORIGIN} ") and lines[5] == "" and len(lines) == 6
        assert outsider_verifies(note, signer.key.vkey) == (ORIGIN, 2, tree_root)
        assert verify_note(note, signer.keys, origin=ORIGIN) == Checkpoint(ORIGIN, 2, tree_root)

    @pytest.mark.parametrize("change", [
        lambda n: n.replace("\n2\n", "\n3\n", 1),              # another size
        lambda n: n.replace(n.split("\n")[2], base64.b64encode(b"\x00" * 32).decode(), 1),  # another root
        lambda n: n.replace(ORIGIN, ORIGIN + "x", 1),          # another log
        lambda n: n[:-4] + ("A" if n[-4] != "A" else "B") + n[-3:],  # a changed signature byte
    ])
    def test_any_change_breaks_the_signature(self, signer: LogSigner, change: object) -> None:
        note = sign_checkpoint(Checkpoint(ORIGIN, 2, merkle.EMPTY_ROOT), signer)
        altered = change(note)  # type: ignore[operator]
        with pytest.raises(CheckpointError):
            verify_note(altered, signer.keys, origin=ORIGIN)
        with pytest.raises(Exception):  # noqa: B017 (the outsider's verifier raises its own errors)
            outsider_verifies(altered, signer.key.vkey)

    def test_a_note_signed_by_another_key_is_refused(self, signer: LogSigner, tmp_path: Path) -> None:
        stranger = LogSigner.development(tmp_path / "autre", ORIGIN)
        note = sign_checkpoint(Checkpoint(ORIGIN, 1, merkle.leaf_hash(b"x")), stranger)
        with pytest.raises(CheckpointError, match="clé du journal"):
            verify_note(note, signer.keys, origin=ORIGIN)

    @pytest.mark.parametrize("note", ["", "origine\n1\n", "o\n01\nAAAA\n\n\u2014 o AAAA\n",
                                      f"o\n1\n{base64.b64encode(b'court').decode()}\n\n\u2014 o AAAAAAAA\n",
                                      "o\n1\n" + base64.b64encode(b"\x00" * 32).decode() + "\n\nsans tiret\n"])
    def test_malformed_notes_are_refused_in_french(self, signer: LogSigner, note: str) -> None:
        with pytest.raises(CheckpointError) as caught:
            verify_note(note, signer.keys, origin="o")
        assert caught.value.args[0]


class TestLogKey:
    def test_the_development_key_is_generated_once_and_kept_private(self, tmp_path: Path) -> None:
        first = LogSigner.development(tmp_path / "log", ORIGIN)
        second = LogSigner.development(tmp_path / "log", ORIGIN)
        assert first.key == second.key
        assert oct(os.stat(tmp_path / "log" / "log-ed25519.pem").st_mode & 0o777) == "0o600"

    def test_a_production_key_and_retired_keys_from_the_settings(self, tmp_path: Path) -> None:
        retired = LogSigner.development(tmp_path / "ancienne", ORIGIN)
        old_note = sign_checkpoint(Checkpoint(ORIGIN, 1, merkle.leaf_hash(b"x")), retired)
        pem = tmp_path / "prod.pem"
        pem.write_bytes(Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        settings = make_settings("sqlite://", log_signing_key=pem, log_previous_keys=[retired.key.vkey],
                                 log_origin=ORIGIN)
        current = LogSigner.from_settings(settings)
        assert current.key != retired.key
        assert verify_note(old_note, current.keys, origin=ORIGIN).size == 1  # still verifies after rotation
        with pytest.raises(CheckpointError):
            verify_note(old_note, (current.key,), origin=ORIGIN)

    def test_a_key_that_is_not_ed25519_or_a_vkey_that_lies_is_refused(self, tmp_path: Path) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec

        pem = tmp_path / "ec.pem"
        pem.write_bytes(ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        with pytest.raises(LogKeyError, match="Ed25519"):
            LogSigner.from_pem(pem, ORIGIN)
        good = LogSigner.development(tmp_path / "log", ORIGIN).key.vkey
        name, key_id, encoded = good.split("+", 2)
        with pytest.raises(LogKeyError, match="identifiant"):
            LogKey.from_vkey(f"{name}+{'0' * 8 if key_id != '0' * 8 else '1' * 8}+{encoded}")
        assert LogKey.from_vkey(good).vkey == good
