"""Streaming ``multipart/form-data`` reader for file uploads.

The file part goes chunk by chunk to a staging file, hashed on the way and fsynced at the
end; the whole file is never held in memory, and the upload stops as soon as it passes its
size limit. Text fields are small and kept in memory.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from service.domain.errors import Issue, ValidationFailed
from service.domain.proofs import HEAD_BYTES, TAIL_BYTES
from service.http.problems import HttpProblem, is_disk_full, storage_full

log = logging.getLogger(__name__)

MAX_FIELD_BYTES = 4096
MAX_FIELDS = 16


@dataclass
class StagedFile:
    """An uploaded file written to the staging folder."""

    path: Path
    filename: str | None
    content_type: str | None
    size: int = 0
    sha256: str = ""
    sha512: str = ""
    head: bytes = b""
    tail: bytes = b""

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)


@dataclass
class Upload:
    fields: dict[str, str] = field(default_factory=dict)
    file: StagedFile | None = None

    def discard(self) -> None:
        if self.file is not None:
            self.file.discard()


def _malformed(detail: str) -> HttpProblem:
    return HttpProblem(400, "malformed_multipart", "Requête mal formée", detail)


class _Receiver:
    """Callbacks of the multipart parser; file bytes are queued for the staging file."""

    def __init__(self, file_field: str, max_file_bytes: int, staging_path: Path) -> None:
        self.file_field = file_field
        self.staging_path = staging_path
        self.max_file_bytes = max_file_bytes
        self.upload = Upload()
        self.pending: list[bytes] = []  # file bytes of the chunk being parsed
        self.too_large = False
        self.ended = False
        self._header_name = b""
        self._header_value = b""
        self._headers: dict[bytes, bytes] = {}
        self._name: str | None = None
        self._is_file = False
        self._value = bytearray()
        self._file_size = 0

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self._part_begin, "on_header_field": self._header_field,
            "on_header_value": self._header_value_data, "on_header_end": self._header_end,
            "on_headers_finished": self._headers_finished, "on_part_data": self._part_data,
            "on_part_end": self._part_end, "on_end": self._end,
        }

    def _part_begin(self) -> None:
        self._headers, self._name, self._is_file, self._value = {}, None, False, bytearray()

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_value_data(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        self._headers[self._header_name.lower()] = self._header_value
        self._header_name, self._header_value = b"", b""

    def _headers_finished(self) -> None:
        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        name = options.get(b"name")
        if name is None:
            raise _malformed("Une partie du formulaire n'a pas de nom (Content-Disposition).")
        self._name = name.decode("utf-8", "replace")
        self._is_file = b"filename" in options or self._name == self.file_field
        if self._is_file:
            if self._name != self.file_field:
                raise _malformed(f"Fichier inattendu dans le champ « {self._name} » : "
                                 f"le fichier se dépose dans le champ « {self.file_field} ».")
            if self.upload.file is not None:
                raise _malformed("Un seul fichier par dépôt.")
            filename = options.get(b"filename")
            content_type = self._headers.get(b"content-type")
            self.upload.file = StagedFile(
                path=self.staging_path, filename=filename.decode("utf-8", "replace") if filename else None,
                content_type=content_type.decode("latin-1") if content_type else None)
        elif len(self.upload.fields) >= MAX_FIELDS:
            raise _malformed("Trop de champs dans le formulaire.")

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._is_file:
            self._file_size += end - start
            if self._file_size > self.max_file_bytes:
                self.too_large = True
                return
            self.pending.append(data[start:end])
        else:
            self._value += data[start:end]
            if len(self._value) > MAX_FIELD_BYTES:
                raise _malformed(f"Le champ « {self._name} » dépasse {MAX_FIELD_BYTES} octets.")

    def _part_end(self) -> None:
        if not self._is_file and self._name is not None:
            try:
                self.upload.fields[self._name] = self._value.decode("utf-8").strip()
            except UnicodeDecodeError:
                raise _malformed(f"Le champ « {self._name} » n'est pas du texte UTF-8.") from None

    def _end(self) -> None:
        self.ended = True


class _StagingWriter:
    """Writes, hashes and keeps the head and tail of the file bytes (in a worker thread)."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle = handle
        self.hasher = hashlib.sha256()
        self.sha512 = hashlib.sha512()  # kept with a proof, for the manifests of evidence bundles
        self.size = 0
        self.head = bytearray()
        self.tail = bytearray()
        #: The disk filled up during the upload: the rest is dropped, and the answer is 507.
        self.full = False

    def write(self, chunks: list[bytes]) -> None:
        if self.full:
            return  # the rest of the body is read and dropped, so that the client reads the answer
        try:
            self._write(chunks)
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            log.warning("no space left for an upload: %s", exc)
            self.full = True

    def _write(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            self.handle.write(chunk)
            self.hasher.update(chunk)
            self.sha512.update(chunk)
            self.size += len(chunk)
            if len(self.head) < HEAD_BYTES:
                self.head += chunk[: HEAD_BYTES - len(self.head)]
            self.tail += chunk
            if len(self.tail) > 2 * TAIL_BYTES:
                del self.tail[: len(self.tail) - TAIL_BYTES]

    def finish(self) -> None:
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.handle.close()


async def read_upload(request: Request, *, file_field: str, staging: IO[bytes], max_file_bytes: int,
                      too_large: HttpProblem) -> Upload:
    """Read a multipart body; the file part goes to ``staging`` (an open, empty staging file).

    On any error the staging file is removed and the error raised: nothing stays behind.
    """
    path = Path(staging.name)
    writer = _StagingWriter(staging)
    try:
        media_type, options = parse_options_header(request.headers.get("content-type"))
        if media_type != b"multipart/form-data" or not options.get(b"boundary"):
            raise HttpProblem(415, "unsupported_media_type", "Type de contenu non pris en charge",
                              "Corps attendu en multipart/form-data (champ « file » et métadonnées).")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_file_bytes + 64 * MAX_FIELD_BYTES:
            raise too_large
        receiver = _Receiver(file_field, max_file_bytes, path)
        parser = MultipartParser(options[b"boundary"], receiver.callbacks())  # type: ignore[arg-type]
        async for chunk in request.stream():
            try:
                parser.write(chunk)
            except HttpProblem:
                raise
            except Exception as exc:  # the parser's own errors on a broken body
                raise _malformed(f"Corps multipart illisible ({exc}).") from None
            if receiver.too_large:
                raise too_large
            if receiver.pending:
                await run_in_threadpool(writer.write, receiver.pending)
                receiver.pending = []
        if not receiver.ended:
            raise _malformed("Corps multipart incomplet (délimiteur de fin absent).")
        if writer.full:
            raise storage_full()
        await run_in_threadpool(writer.finish)
        upload = receiver.upload
        if upload.file is not None:
            upload.file.size = writer.size
            upload.file.sha256 = writer.hasher.hexdigest()
            upload.file.sha512 = writer.sha512.hexdigest()
            upload.file.head = bytes(writer.head)
            upload.file.tail = bytes(writer.tail[-TAIL_BYTES:])
        else:
            path.unlink(missing_ok=True)
        return upload
    except BaseException:
        with suppress(OSError):  # closing flushes what is buffered: on a full disk, that fails too
            staging.close()
        path.unlink(missing_ok=True)
        raise


@asynccontextmanager
async def single_file(request: Request, *, suffix: str, max_bytes: int, too_large_code: str,
                      what: str) -> AsyncIterator[StagedFile]:
    """The ``file`` part of a multipart body, staged in a temporary file for the ``async with``
    block and removed after it: 413 ``too_large_code`` beyond ``max_bytes``, 422 when the part is
    missing (``what`` names the expected file, in French)."""
    too_large = HttpProblem(413, too_large_code, "Fichier trop volumineux",
                            f"Le fichier dépasse la taille admise ({max_bytes} octets).")
    staging: IO[bytes] = await run_in_threadpool(
        lambda: tempfile.NamedTemporaryFile(prefix="upload-", suffix=suffix, delete=False))
    upload = await read_upload(request, file_field="file", staging=staging, max_file_bytes=max_bytes,
                               too_large=too_large)
    try:
        if upload.file is None:
            raise ValidationFailed([Issue(code="field_required", field="file",
                                          message=f"Le champ « file » ({what}) est obligatoire.")])
        yield upload.file
    finally:
        upload.discard()
