"""Reading the FINESS registry: snapshots of the public extract, establishments, and what
registration and control need to know of them (``service/registry/imports.py`` feeds it)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from service.domain.errors import InvalidIdentifier, Issue, NotFound, ValidationFailed
from service.domain.identifiers import Finess
from service.kit.pagination import Key, Keyset, PageRequest
from service.models import (
    FINESS_SNAPSHOT_TABLE,
    REGISTRY_ESTABLISHMENT_TABLE,
    iso_z,
)

_SNAPSHOT = FINESS_SNAPSHOT_TABLE
_ET = REGISTRY_ESTABLISHMENT_TABLE


def snapshot_view(row: Any) -> dict[str, Any]:
    return {"id": row.id, "sha256": row.sha256, "extract_version": row.extract_version,
            "extracted_on": row.extracted_on.isoformat(), "filename": row.filename, "size": row.size,
            "encoding": row.encoding, "establishments": row.establishments, "added": row.added,
            "closed": row.closed, "reopened": row.reopened, "imported_at": iso_z(row.imported_at)}


_NEWEST_FIRST = Keyset(Key("id", _SNAPSHOT.c.id, int, descending=True))


def list_snapshots(session: Session, page: PageRequest) -> dict[str, Any]:
    """Snapshots, newest first."""
    rows, next_cursor = _NEWEST_FIRST.page(
        session.connection().execute(_NEWEST_FIRST.select(sa.select(_SNAPSHOT), page)).all(), page, lambda r: (r.id,))
    return {"items": [snapshot_view(r) for r in rows], "next_cursor": next_cursor}


def get_establishment(session: Session, finess: str) -> dict[str, Any]:
    try:
        value = Finess.parse(finess).value
    except InvalidIdentifier as exc:
        raise ValidationFailed([Issue(code=exc.code or "invalid_finess", field="finess", message=str(exc))]) from None
    row = session.connection().execute(sa.select(_ET).where(_ET.c.finess == value)).one_or_none()
    if row is None:
        raise NotFound(f"Le FINESS {value} n'est pas dans le registre (dernier extrait importé).",
                       code="finess_not_in_registry")
    snapshots = {r.id: r for r in session.connection().execute(sa.select(
        _SNAPSHOT.c.id, _SNAPSHOT.c.extracted_on).where(_SNAPSHOT.c.id.in_(
            [row.first_snapshot_id, row.last_seen_snapshot_id]))).all()}
    return {
        "finess": row.finess, "finess_ej": row.finess_ej, "name": row.name, "long_name": row.long_name,
        "category": {"code": row.category_code, "label": row.category_label}, "department": row.department,
        "region_code": row.region_code, "siret": row.siret,
        "opened_on": row.opened_on.isoformat() if row.opened_on else None,
        "updated_on": row.updated_on.isoformat() if row.updated_on else None,
        "status": "closed" if row.closed_on else "open",
        "closed_on": row.closed_on.isoformat() if row.closed_on else None,
        "first_seen_on": snapshots[row.first_snapshot_id].extracted_on.isoformat(),
        "last_seen_on": snapshots[row.last_seen_snapshot_id].extracted_on.isoformat(),
    }


def registry_of(session: Session, finesses: list[str]) -> dict[str, Any] | None:
    """The registry's rows for ``finesses`` (absent: unknown to it), or ``None`` when no extract
    was ever imported (then registration relies on what the request says)."""
    conn = session.connection()
    if conn.execute(sa.select(_SNAPSHOT.c.id).limit(1)).first() is None:
        return None
    found: dict[str, Any] = {}
    for at in range(0, len(finesses), 1_000):
        found.update({r.finess: r for r in conn.execute(sa.select(_ET).where(
            _ET.c.finess.in_(finesses[at:at + 1_000])))})
    return found
