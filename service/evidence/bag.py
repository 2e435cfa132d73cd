"""A BagIt 1.0 bag (RFC 8493) written as one ZIP while it is sent.

The bag is a top folder holding the tag files (``bagit.txt``, ``bag-info.txt``, the SHA-256 and
SHA-512 payload manifests, the SHA-256 tag manifest) and the payload under ``data/``. Every
payload file's digests are known before the first byte is written — the small files are built
in memory, the large ones (proofs) were checked and hashed beforehand — so the tag files come
first and the ZIP is produced in one pass, chunk by chunk, in bounded memory: Python's
``zipfile`` writes to a sink that is drained after each chunk (local headers with data
descriptors, as for any unseekable output; ZIP64 when sizes call for it).
"""

from __future__ import annotations

import hashlib
import io
import logging
import zipfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import IO

log = logging.getLogger(__name__)
CHUNK = 1 << 20
#: Payload files stored as they are (already compressed: PDF, images, xlsx); the rest deflated.
_STORED_SUFFIXES = (".pdf", ".png", ".jpg", ".xlsx", ".zip")


@dataclass(frozen=True)
class PayloadFile:
    """One file of ``data/``: its path inside ``data/``, size, digests and a way to read it."""

    path: str
    size: int
    sha256: str
    sha512: str
    open: Callable[[], IO[bytes]]
    #: Hash the bytes again while they are sent, and stop the ZIP if they are not the ones checked.
    recheck: bool = False

    @classmethod
    def of_bytes(cls, path: str, content: bytes) -> PayloadFile:
        return cls(path=path, size=len(content), sha256=hashlib.sha256(content).hexdigest(),
                   sha512=hashlib.sha512(content).hexdigest(), open=lambda: io.BytesIO(content))


def _manifest(entries: Iterable[tuple[str, str]]) -> bytes:
    """``<digest> <path>`` lines; paths percent-encode CR, LF and % as RFC 8493 §2.1.3 says."""
    def encoded(path: str) -> str:
        return path.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return "".join(f"{digest}  {encoded(path)}\n" for path, digest in entries).encode("utf-8")


def _tag_line(label: str, value: str) -> str:
    # RFC 8493 §2.2.2: one line per value; a value holding line breaks would be folded, ours never do.
    return f"{label}: {' '.join(value.split())}\n"


def tag_files(payload: list[PayloadFile], info: list[tuple[str, str]], *, bagged_on: str) -> list[PayloadFile]:
    """``bagit.txt``, ``bag-info.txt`` (``Payload-Oxum`` and ``Bagging-Date`` added to ``info``),
    the payload manifests and the tag manifest, in that order (paths relative to the bag)."""
    oxum = f"{sum(f.size for f in payload)}.{len(payload)}"
    bag_info = "".join(_tag_line(k, v) for k, v in [*info, ("Bagging-Date", bagged_on), ("Payload-Oxum", oxum)])
    tags = [
        PayloadFile.of_bytes("bagit.txt", b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"),
        PayloadFile.of_bytes("bag-info.txt", bag_info.encode("utf-8")),
        PayloadFile.of_bytes("manifest-sha256.txt", _manifest((f"data/{f.path}", f.sha256) for f in payload)),
        PayloadFile.of_bytes("manifest-sha512.txt", _manifest((f"data/{f.path}", f.sha512) for f in payload)),
    ]
    tags.append(PayloadFile.of_bytes("tagmanifest-sha256.txt", _manifest((t.path, t.sha256) for t in tags)))
    return tags


class ChangedWhileSending(Exception):
    """A payload file whose bytes changed between their check and their sending: the ZIP is cut
    short (no central directory), so what the client holds is no bag at all."""


class _Sink(io.RawIOBase):
    """What ``zipfile`` writes into, taken out chunk by chunk; it cannot seek."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._offset = 0

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self._parts.append(bytes(data))
        self._offset += len(data)
        return len(data)

    def tell(self) -> int:
        return self._offset

    def take(self) -> bytes:
        out, self._parts = b"".join(self._parts), []
        return out


def stream_bag(top: str, payload: list[PayloadFile], info: list[tuple[str, str]], *,
               bagged_at: datetime) -> Iterator[bytes]:
    """The ZIP of the bag ``top/``, as chunks: tag files first, then ``data/`` in path order."""
    ordered = sorted(payload, key=lambda f: f.path)
    entries = [*tag_files(ordered, info, bagged_on=bagged_at.date().isoformat()),
               *(PayloadFile(f"data/{f.path}", f.size, f.sha256, f.sha512, f.open, f.recheck) for f in ordered)]
    stamp = bagged_at.timetuple()[:6]
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", allowZip64=True) as archive:
        for entry in entries:
            info_ = zipfile.ZipInfo(f"{top}/{entry.path}", date_time=stamp)
            info_.compress_type = (zipfile.ZIP_STORED if entry.path.endswith(_STORED_SUFFIXES)
                                   else zipfile.ZIP_DEFLATED)
            info_.file_size = entry.size  # tells zipfile whether the entry needs ZIP64 headers
            info_.external_attr = 0o644 << 16
            again = hashlib.sha256() if entry.recheck else None
            with entry.open() as source, archive.open(info_, "w") as out:
                while chunk := source.read(CHUNK):
                    out.write(chunk)
                    if again is not None:
                        again.update(chunk)
                    yield sink.take()
                if again is not None and again.hexdigest() != entry.sha256:
                    log.critical("bag %s: %s changed while it was sent (SHA-256 %s, checked %s)", top, entry.path,
                                 again.hexdigest(), entry.sha256)
                    raise ChangedWhileSending(entry.path)
            yield sink.take()
    yield sink.take()
