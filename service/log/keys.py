"""The log's signing key (Ed25519), handled like the report key.

``SERVICE_LOG_SIGNING_KEY`` names a PEM private key in production; when it is not set, a
development key is generated on first start under ``var/log/`` and kept. Retired keys' public
halves (``SERVICE_LOG_PREVIOUS_KEYS``, C2SP verifier keys ``name+id+base64``) still verify the
checkpoints they signed.

Key names and ids follow the C2SP signed-note specification: the key id is the first four
bytes of SHA-256(key name ‖ 0x0A ‖ 0x01 ‖ public key), 0x01 being the Ed25519 signature type.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from service.kit.keyfiles import create_once

if TYPE_CHECKING:
    from service.kit.settings import Settings

ED25519 = 0x01


class LogKeyError(Exception):
    """The configured log key cannot be used."""


def key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + public_key).digest()[:4]


def valid_key_name(name: str) -> bool:
    """C2SP: a non-empty string of Unicode without spaces or "+"."""
    return bool(name) and not any(ch.isspace() or ch == "+" for ch in name)


@dataclass(frozen=True)
class LogKey:
    """A public key of the log, by its name."""

    name: str
    public_key: bytes  # 32 bytes

    @property
    def key_id(self) -> bytes:
        return key_id(self.name, self.public_key)

    @property
    def vkey(self) -> str:
        """The verifier key as C2SP writes it: ``<name>+<hex key id>+<base64(0x01 ‖ public key)>``."""
        encoded = base64.b64encode(bytes([ED25519]) + self.public_key).decode()
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def verifies(self, message: bytes, signature: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
            return True
        except (InvalidSignature, ValueError):
            return False

    @classmethod
    def from_vkey(cls, vkey: str) -> LogKey:
        try:
            name, hex_id, encoded = vkey.strip().split("+", 2)  # the base64 may hold "+"
            raw = base64.b64decode(encoded, validate=True)
        except ValueError:
            raise LogKeyError(f"clé de vérification illisible : « {vkey[:80]} »") from None
        if len(raw) != 33 or raw[0] != ED25519 or not valid_key_name(name):
            raise LogKeyError(f"clé de vérification non Ed25519 ou mal nommée : « {vkey[:80]} »")
        key = cls(name, raw[1:])
        if key.key_id.hex() != hex_id.lower():
            raise LogKeyError(f"l'identifiant de la clé « {name} » ne correspond pas à sa clé publique")
        return key


class LogSigner:
    """The private key signing the checkpoints, and the public keys (its own and retired ones)."""

    def __init__(self, private_key: Ed25519PrivateKey, name: str, previous: tuple[LogKey, ...] = ()) -> None:
        if not valid_key_name(name):
            raise LogKeyError(f"nom de clé invalide « {name} » (ni espace ni « + »)")
        self._private = private_key
        public = private_key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.key = LogKey(name, public)
        #: Every key a checkpoint of this log may carry: the current one first.
        self.keys = (self.key, *previous)

    def sign(self, message: bytes) -> bytes:
        return self._private.sign(message)

    @classmethod
    def from_settings(cls, settings: Settings) -> LogSigner:
        previous = tuple(LogKey.from_vkey(v) for v in settings.log_previous_keys)
        if settings.log_signing_key is not None:
            return cls.from_pem(settings.log_signing_key, settings.log_origin, previous)
        return cls.development(settings.log_dir, settings.log_origin, previous)

    @classmethod
    def from_pem(cls, path: Path, name: str, previous: tuple[LogKey, ...] = ()) -> LogSigner:
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise LogKeyError(f"clé de signature du journal illisible ({exc})") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise LogKeyError("la clé de signature du journal doit être une clé Ed25519")
        return cls(key, name, previous)

    @classmethod
    def development(cls, directory: Path, name: str, previous: tuple[LogKey, ...] = ()) -> LogSigner:
        """The development key, generated once under ``directory`` and kept (readable by its owner
        only); processes starting together agree on the first one written."""
        path = directory / "log-ed25519.pem"
        if not path.exists():
            create_once(path, Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        return cls.from_pem(path, name, previous)
