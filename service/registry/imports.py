"""Importing the public FINESS extract as a snapshot of the registry.

An import reads the file twice, line by line (memory flat in its size): once to tell its
encoding (UTF-8, with or without BOM, or else Windows-1252, as the extract is published), once
to upsert its establishments in batches. It is one transaction: a malformed record anywhere
refuses the whole file (every problem by line) and nothing changes. An establishment of the
registry missing from the new snapshot is closed as of the snapshot's date; one that comes back
is open again; the control cases of versions declaring either are brought up to date. The same
file imported twice is one snapshot; an extract older than the latest one is refused (it would
close what opened since).
"""

from __future__ import annotations

import codecs
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlmodel import Session

from service.audit import trail as audit
from service.domain import access
from service.domain.access import Principal
from service.domain.errors import Conflict
from service.domain.finess_extract import DayMemo, ExtractRecord, parse_header, parse_records
from service.models import (
    FINESS_SNAPSHOT_TABLE,
    REGISTRY_ESTABLISHMENT_TABLE,
    utcnow,
)
from service.registry.finess import snapshot_view

_SNAPSHOT = FINESS_SNAPSHOT_TABLE
_ET = REGISTRY_ESTABLISHMENT_TABLE
_BATCH = 2_000
#: The columns an extract's record fills, in the order of ``ExtractRecord`` (after the FINESS).
_FROM_RECORD = ExtractRecord._fields[1:]


def _pg_upsert_statement() -> Any:
    insert = postgresql.insert(_ET)
    return insert.on_conflict_do_update(index_elements=[_ET.c.finess], set_={
        **{name: insert.excluded[name] for name in _FROM_RECORD},
        "last_seen_snapshot_id": insert.excluded.last_seen_snapshot_id, "closed_on": None,
        "closed_snapshot_id": None})


#: PostgreSQL's upsert; SQLite's goes to the driver as text (``_SQLITE_UPSERT``, the same clauses).
_PG_UPSERT = _pg_upsert_statement()
_COLUMNS = ("finess", *_FROM_RECORD, "first_snapshot_id", "last_seen_snapshot_id")  # the SQLite rows' order
_SQLITE_UPSERT = (
    f"INSERT INTO registry_establishment ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))}) "
    "ON CONFLICT (finess) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name in (*_FROM_RECORD, "last_seen_snapshot_id"))
    + ", closed_on = NULL, closed_snapshot_id = NULL")


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def detect_encoding(path: Path) -> str:
    """``utf-8-sig`` when every byte decodes as UTF-8 (a BOM is dropped), else ``cp1252``."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as handle:
        try:
            while chunk := handle.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1252"
    return "utf-8-sig"


@contextmanager
def _lines(path: Path, encoding: str) -> Iterator[Iterator[str]]:
    # newline="" as the csv module asks: quoted fields may hold line breaks.
    with path.open("r", encoding=encoding, errors="replace", newline="") as handle:
        yield handle


#: What must follow, in the same transaction, the FINESS an import closed or reopened (the control
#: queue's closure reasons: ``control.refresh_closure_reasons``, passed by the application).
ClosuresChanged = Callable[[Session, set[str]], None]


def import_extract(session: Session, principal: Principal, path: Path, *, filename: str | None, sha256: str,
                   size: int, closures_changed: ClosuresChanged) -> tuple[dict[str, Any], bool]:
    """Import the extract at ``path`` (already hashed); the snapshot's view and whether it is new."""
    access.require_may_manage_registry(principal)
    conn = session.connection()
    known = conn.execute(sa.select(_SNAPSHOT).where(_SNAPSHOT.c.sha256 == sha256)).one_or_none()
    if known is not None:
        return snapshot_view(known), False
    encoding = detect_encoding(path)
    with _lines(path, encoding) as lines:
        header = parse_header(next(lines, ""))
        latest = conn.execute(sa.select(sa.func.max(_SNAPSHOT.c.extracted_on))).scalar_one_or_none()
        if latest is not None and header.extracted_on < latest:
            raise Conflict(f"Cet extrait date du {header.extracted_on.isoformat()} ; le registre tient déjà "
                           f"l'extrait du {latest.isoformat()}. Importez un extrait plus récent.",
                           code="finess_snapshot_older")
        snapshot_id = int(conn.execute(sa.insert(_SNAPSHOT).values(
            sha256=sha256, extract_version=header.version, extracted_on=header.extracted_on,
            filename=filename, size=size, encoding="utf-8" if encoding == "utf-8-sig" else encoding,
            establishments=0, added=0, closed=0, reopened=0, imported_at=utcnow(),
            imported_by_key_id=principal.key_id or None,
            imported_by_person_id=principal.person_id).returning(_SNAPSHOT.c.id)).scalar_one())
        closed_before = set(conn.execute(sa.select(_ET.c.finess).where(_ET.c.closed_on.is_not(None))).scalars())
        reopened: set[str] = set()
        batch: list[ExtractRecord] = []
        days: DayMemo[date | None, str | None] = DayMemo(_iso)  # each day's ISO text, for SQLite
        for record in parse_records(lines):
            batch.append(record)
            if len(batch) >= _BATCH:
                reopened |= _store(conn, batch, snapshot_id, days, closed_before)
                batch = []
        reopened |= _store(conn, batch, snapshot_id, days, closed_before)
    # Two passes over the registry: one counts the establishments the snapshot lists (a FINESS
    # listed twice counts once) and those it added; the other closes those missing from it.
    seen = _ET.c.last_seen_snapshot_id == snapshot_id
    listed, added = conn.execute(sa.select(sa.func.count(), sa.func.count().filter(
        _ET.c.first_snapshot_id == snapshot_id)).where(seen)).one()
    closed = set(conn.execute(sa.update(_ET).where(~seen, _ET.c.closed_on.is_(None)).values(
        closed_on=header.extracted_on, closed_snapshot_id=snapshot_id).returning(_ET.c.finess)).scalars())
    conn.execute(sa.update(_SNAPSHOT).where(_SNAPSHOT.c.id == snapshot_id).values(
        establishments=listed, added=added, reopened=len(reopened), closed=len(closed)))
    closures_changed(session, closed | reopened)
    row = conn.execute(sa.select(_SNAPSHOT).where(_SNAPSHOT.c.id == snapshot_id)).one()
    view = snapshot_view(row)
    audit.record(session, principal, "finess_snapshot_imported", "finess_snapshot", str(snapshot_id),
                 payload={k: view[k] for k in ("sha256", "extract_version", "extracted_on", "filename", "size",
                                               "encoding", "establishments", "added", "closed", "reopened")})
    return view, True


def _store(conn: sa.Connection, batch: list[ExtractRecord], snapshot_id: int, days: DayMemo[date | None, str | None],
           closed_before: set[str]) -> set[str]:
    """Upsert ``batch``; return the FINESS among ``closed_before`` it lists (open again)."""
    if not batch:
        return set()
    if len({r.finess for r in batch}) < len(batch):  # a FINESS twice in the file: its last record
        batch = list({r.finess: r for r in batch}.values())
    if conn.dialect.name == "sqlite":
        # Straight to the driver: SQLAlchemy's per-row processing costs more than the upsert itself
        # (bench/finess_import.py); dates as SQLAlchemy writes them on SQLite (ISO text).
        ids = (snapshot_id, snapshot_id)
        conn.exec_driver_sql(_SQLITE_UPSERT, [
            r[:9] + (days[r.opened_on], days[r.updated_on]) + ids  # the record up to its SIRET, as _COLUMNS
            for r in batch])
    else:
        conn.execute(_PG_UPSERT, [dict(r._asdict(), first_snapshot_id=snapshot_id, last_seen_snapshot_id=snapshot_id)
                                  for r in batch])
    return closed_before.intersection(r.finess for r in batch) if closed_before else set()
