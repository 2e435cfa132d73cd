"""The proof store: immutable, content-addressed bytes of proofs, in a folder or in S3.

A proof's bytes are stored under their SHA-256, so identical bytes are stored once and a
stored object never changes. The upload path writes the bytes to a staging file (fsynced),
hands it to ``put`` (durable when it returns), then records the proof row in the database:
a crash in between leaves an object no row refers to, which ``sweep`` removes once it is
older than a grace period (so an upload in flight is never swept).

Nothing here updates or deletes a referenced object; reading re-hashes the bytes and refuses
to hand out content whose digest is not its name.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import shutil
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from service.kit.settings import Settings

log = logging.getLogger(__name__)
CHUNK = 1 << 16
#: Chunks read when checking a whole object: large, so that hashing runs outside the GIL.
CHECK_CHUNK = 1 << 20


class CorruptProof(Exception):
    """Stored bytes whose SHA-256 is not the one they were stored under."""

    def __init__(self, digest: str, found: str) -> None:
        super().__init__(f"proof object {digest} hashes to {found}")
        self.digest = digest
        self.found = found


class MissingProof(Exception):
    """A proof row whose object is absent from the store."""


def sha256_b64(hex_digest: str) -> str:
    """The base64 form of a hex SHA-256 (``Repr-Digest``, S3 checksums)."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode("ascii")


def _hash_through(source: IO[bytes], digest: str, also: tuple[str, ...]) -> dict[str, str]:
    """Read ``source`` to its end, hashing it; ``CorruptProof`` unless its
    SHA-256 is ``digest``. The other digests are computed on a second thread, chunk by chunk
    (hashlib lets go of the interpreter lock on large updates): two digests cost about one."""
    sha256 = hashlib.sha256()
    others = {name: hashlib.new(name) for name in also}
    with ThreadPoolExecutor(max_workers=1) if others else nullcontext() as pool:
        while chunk := source.read(CHECK_CHUNK):
            pending = pool.submit(_update_all, others.values(), chunk) if pool is not None else None
            sha256.update(chunk)
            if pending is not None:
                pending.result()
    found = sha256.hexdigest()
    if found != digest:
        log.critical("proof object %s is corrupt: its bytes hash to %s", digest, found)
        raise CorruptProof(digest, found)
    return {name: h.hexdigest() for name, h in others.items()}


def checked_chunks(handle: IO[bytes], digest: str) -> Iterator[bytes]:
    """The bytes of an open object, chunk by chunk, hashed on the way: the last chunk is held back
    until the whole hashes to ``digest`` (``CorruptProof`` otherwise, and the reader gets a short
    body, never the changed bytes whole). The handle is closed at the end."""
    sha256 = hashlib.sha256()
    try:
        held = handle.read(CHUNK)
        while held:
            sha256.update(held)
            following = handle.read(CHUNK)
            if not following:
                break
            yield held
            held = following
        found = sha256.hexdigest()
        if found != digest:
            log.critical("proof object %s changed while being sent: its bytes hash to %s", digest, found)
            raise CorruptProof(digest, found)
        if held:
            yield held
    finally:
        handle.close()


def _update_all(hashers: Iterable[Any], chunk: bytes) -> None:
    for hasher in hashers:
        hasher.update(chunk)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class ProofStore(ABC):
    """Where proof bytes live. ``staging_dir`` is a local folder for uploads in progress."""

    def __init__(self, staging_dir: Path) -> None:
        self.staging_dir = staging_dir
        staging_dir.mkdir(parents=True, exist_ok=True)

    def readiness(self, *, room_for: int) -> str | None:
        """Why the store cannot take a proof now (in French), or ``None``: the staging folder
        writable with ``room_for`` bytes free, and the store itself reachable."""
        try:
            free = shutil.disk_usage(self.staging_dir).free
            probe = tempfile.NamedTemporaryFile(dir=self.staging_dir, prefix="ready-")  # noqa: SIM115
            probe.close()
        except OSError as exc:
            return f"dossier de dépôt inutilisable ({exc.strerror or type(exc).__name__})"
        if free < room_for:
            return f"dossier de dépôt presque plein ({free // 1_000_000} Mo libres, {room_for // 1_000_000} Mo requis)"
        return self._store_readiness(room_for)

    def _store_readiness(self, room_for: int) -> str | None:
        return None

    def new_staging_file(self) -> IO[bytes]:
        return tempfile.NamedTemporaryFile(dir=self.staging_dir, prefix="upload-", delete=False)  # noqa: SIM115

    @abstractmethod
    def put(self, digest: str, source: Path) -> None:
        """Store the bytes of ``source`` (already fsynced) under ``digest``; durable on return."""

    @abstractmethod
    def _open(self, digest: str) -> IO[bytes]:
        """The stored bytes, as a readable binary stream (``MissingProof`` if absent)."""

    @abstractmethod
    def objects(self) -> Iterator[tuple[str, float]]:
        """Every stored digest with the time (epoch seconds) it was last written."""

    @abstractmethod
    def _delete(self, digest: str) -> None:
        """Remove an object: for ``sweep`` only, on objects no proof refers to."""

    def open_verified(self, digest: str) -> IO[bytes]:
        """The stored bytes, checked against their digest before anything is handed out.

        Nothing is copied: the object is hashed where it lies, then handed out from its start
        (a fresh read for a store that cannot seek). Send it through ``checked_chunks``, which
        hashes it again on the way and holds its last chunk back until the digest matches, so
        that bytes changed in between never reach a reader whole.
        """
        return self.open_checked(digest)[0]

    def open_checked(self, digest: str, *, also: tuple[str, ...] = ()) -> tuple[IO[bytes], dict[str, str]]:
        """``open_verified``, with the bytes' digests by the hashlib algorithms ``also`` names."""
        with self._open(digest) as source:
            found = _hash_through(source, digest, also)
        return self._open(digest), found

    def sweep(self, referenced: set[str], *, grace_seconds: float) -> SweepReport:
        """Remove objects no proof refers to, and abandoned staging files, older than the grace."""
        cutoff = time.time() - grace_seconds
        report = SweepReport()
        for digest, written_at in list(self.objects()):
            if digest not in referenced and written_at < cutoff:
                self._delete(digest)
                report.objects.append(digest)
        for path in sorted(self.staging_dir.glob("upload-*")):
            try:
                info = path.stat()
                if info.st_mtime < cutoff:
                    path.unlink()
                    report.staging.append((path, info.st_size))
            except FileNotFoundError:
                pass  # finished (moved into the store) or swept by another run meanwhile
        return report


@dataclass
class SweepReport:
    """What a sweep removed: stored objects no proof refers to, and the staging files of uploads
    that were interrupted (a client gone, a process killed) with their sizes."""

    objects: list[str] = field(default_factory=list)
    staging: list[tuple[Path, int]] = field(default_factory=list)


class LocalProofStore(ProofStore):
    """A folder: ``objects/ab/cdef…`` (read-only files), ``staging/`` for uploads in progress."""

    def __init__(self, root: Path) -> None:
        super().__init__(root / "staging")
        self.root = root
        self.objects_dir = root / "objects"
        self.objects_dir.mkdir(parents=True, exist_ok=True)

    def _path(self, digest: str) -> Path:
        return self.objects_dir / digest[:2] / digest[2:]

    def _store_readiness(self, room_for: int) -> str | None:
        try:
            free = shutil.disk_usage(self.objects_dir).free
        except OSError as exc:
            return f"dossier des preuves inutilisable ({exc.strerror or type(exc).__name__})"
        if not os.access(self.objects_dir, os.W_OK):
            return "dossier des preuves en lecture seule"
        if free < room_for:
            return f"dossier des preuves presque plein ({free // 1_000_000} Mo libres)"
        return None

    def put(self, digest: str, source: Path) -> None:
        target = self._path(digest)
        if target.exists():
            # Already stored: the staged copy is not needed. Refresh the time so that a sweep
            # running now does not take an object an upload in flight is about to refer to.
            os.utime(target)
            source.unlink(missing_ok=True)
            return
        target.parent.mkdir(exist_ok=True)
        os.chmod(source, 0o444)
        os.replace(source, target)
        _fsync_dir(target.parent)

    def _open(self, digest: str) -> IO[bytes]:
        try:
            return self._path(digest).open("rb")
        except FileNotFoundError:
            raise MissingProof(digest) from None

    def open_checked(self, digest: str, *, also: tuple[str, ...] = ()) -> tuple[IO[bytes], dict[str, str]]:
        """One handle, checked then rewound: the object is a read-only file the service never
        rewrites, and the open handle keeps reading the file that was checked even if its name
        is removed or replaced meanwhile."""
        handle = self._open(digest)
        try:
            found = _hash_through(handle, digest, also)
            handle.seek(0)
        except BaseException:
            handle.close()
            raise
        return handle, found

    def objects(self) -> Iterator[tuple[str, float]]:
        for path in self.objects_dir.glob("??/*"):
            yield path.parent.name + path.name, path.stat().st_mtime

    def _delete(self, digest: str) -> None:
        self._path(digest).unlink(missing_ok=True)


class S3ProofStore(ProofStore):
    """An S3-compatible bucket: key ``<prefix><sha256>``, uploaded with its SHA-256 checksum,
    which the server verifies. Several workers on several machines share it."""

    def __init__(self, staging_dir: Path, *, bucket: str, prefix: str, client: Any) -> None:
        super().__init__(staging_dir)
        self.bucket = bucket
        self.prefix = prefix
        self.client = client

    @classmethod
    def from_settings(cls, settings: Settings) -> S3ProofStore:
        import boto3  # imported here: only the S3 backend needs it

        client = boto3.client(
            "s3", endpoint_url=settings.s3_endpoint_url, region_name=settings.s3_region,
            aws_access_key_id=settings.s3_access_key_id, aws_secret_access_key=settings.s3_secret_access_key,
        )
        if not settings.s3_bucket:
            raise ValueError("SERVICE_S3_BUCKET is required with SERVICE_STORAGE_BACKEND=s3")
        return cls(settings.storage_dir / "staging", bucket=settings.s3_bucket, prefix=settings.s3_prefix,
                   client=client)

    def put(self, digest: str, source: Path) -> None:
        # Always written (same key, same bytes): the write refreshes the object's time, which
        # protects it from a concurrent sweep exactly as for the folder.
        with source.open("rb") as body:
            self.client.put_object(Bucket=self.bucket, Key=self.prefix + digest, Body=body,
                                   ChecksumSHA256=sha256_b64(digest))
        source.unlink(missing_ok=True)

    def _store_readiness(self, room_for: int) -> str | None:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except Exception as exc:  # noqa: BLE001 - botocore's errors, or the connection's
            return f"stockage S3 injoignable ({type(exc).__name__})"
        return None

    def _open(self, digest: str) -> IO[bytes]:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.prefix + digest)
        except self.client.exceptions.NoSuchKey:
            raise MissingProof(digest) from None
        return response["Body"]

    def objects(self) -> Iterator[tuple[str, float]]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for item in page.get("Contents", []):
                yield item["Key"][len(self.prefix):], item["LastModified"].timestamp()

    def _delete(self, digest: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.prefix + digest)


def open_store(settings: Settings) -> ProofStore:
    if settings.storage_backend == "s3":
        return S3ProofStore.from_settings(settings)
    return LocalProofStore(settings.storage_dir)
