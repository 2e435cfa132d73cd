"""Target sets as data: read for each push, shown by id, added or replaced by an administrator.

A push evaluates its rows against the sets in force when it is stored, and each row records the
set it used. A set may be replaced while no version used it, never after (409
``target_set_in_use``). On PostgreSQL a push reads the sets of its campaign ``FOR SHARE`` and a
replacement locks the set ``FOR UPDATE`` before it looks for a version using it: a replacement
waits for the pushes reading the set and then sees them, so no version is ever stored with values
the set no longer has. On SQLite writers are serialised anyway.

Sets used by stored rows never change: they are kept in memory by id once read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from service.audit import trail as audit
from service.domain import access
from service.domain.access import Principal
from service.domain.errors import Conflict, Issue, NotFound, ValidationFailed
from service.domain.targets import INDICATOR_KEYS, TargetSet
from service.models import SUBMISSION_ROW_TABLE, TARGET_SET_ROW_TABLE, utcnow

_SET = TARGET_SET_ROW_TABLE
_ROW = SUBMISSION_ROW_TABLE
#: The sets a push of a campaign chooses among, built once (the push path runs it); locked for
#: share on PostgreSQL.
_IN_FORCE = sa.select(_SET).where(sa.or_(_SET.c.campaign_year == sa.bindparam("campaign_year"),
                                         _SET.c.campaign_year.is_(None)))
_IN_FORCE_SHARED = _IN_FORCE.with_for_update(read=True)
#: Sets read by id for stored rows: used, hence immutable.
_USED: dict[str, TargetSet] = {}


def _of(row: Any) -> TargetSet:
    return TargetSet(id=row.id, label=row.label, active_files=row.active_files, personal_plan=row.personal_plan,
                     agenda=row.agenda, mssante=row.mssante, dmp=row.dmp, binding=bool(row.binding),
                     campaign_year=row.campaign_year, category=row.category)


def in_force(conn: sa.Connection, *, campaign_year: int) -> list[TargetSet]:
    """The sets a push of ``campaign_year`` chooses among (locked for share on PostgreSQL)."""
    query = _IN_FORCE_SHARED if conn.dialect.name == "postgresql" else _IN_FORCE
    return [_of(r) for r in conn.execute(query, {"campaign_year": campaign_year})]


def by_id(conn: sa.Connection, set_id: str) -> TargetSet:
    """The set a stored row used."""
    found = _USED.get(set_id)
    if found is None:
        found = _USED[set_id] = _of(conn.execute(sa.select(_SET).where(_SET.c.id == set_id)).one())
    return found


def every_set(conn: sa.Connection) -> dict[str, TargetSet]:
    """Every set, by id (the rows of a whole export or statistics refer to any of them)."""
    return {r.id: _of(r) for r in conn.execute(sa.select(_SET))}


def view(ts: TargetSet, *, used: bool) -> dict[str, Any]:
    return {"id": ts.id, "label": ts.label, "campaign_year": ts.campaign_year, "category": ts.category,
            "values": {key: ts.target(key) for key in INDICATOR_KEYS}, "binding": ts.binding, "used": used}


def _used(conn: sa.Connection, set_id: str) -> bool:
    return conn.execute(sa.select(_ROW.c.id).where(_ROW.c.target_set_id == set_id).limit(1)).first() is not None


def list_sets(session: Session) -> dict[str, Any]:
    conn = session.connection()
    used = set(conn.execute(sa.select(_ROW.c.target_set_id).distinct()).scalars())
    rows = conn.execute(sa.select(_SET).order_by(_SET.c.campaign_year.is_(None), _SET.c.campaign_year.desc(),
                                                 _SET.c.category, _SET.c.id))
    return {"items": [view(_of(r), used=r.id in used) for r in rows]}


def put_set(session: Session, principal: Principal, payload: Mapping[str, Any]) -> tuple[dict[str, Any], bool]:
    """Add a set, or replace the set of that id while no version used it; the view and whether new."""
    access.require_may_manage_targets(principal)
    conn = session.connection()
    new = TargetSet(id=payload["id"], label=payload["label"].strip(), campaign_year=payload.get("campaign_year"),
                    category=payload.get("category"), binding=payload["binding"],
                    **{key: float(payload["values"][key]) for key in INDICATOR_KEYS})
    current = conn.execute(sa.select(_SET).where(_SET.c.id == new.id).with_for_update()).one_or_none()
    if current is not None and _used(conn, new.id):
        raise Conflict(f"Le jeu de cibles « {new.id} » a servi à évaluer au moins une version : il ne peut plus "
                       "changer. Créez un nouveau jeu (autre identifiant) pour les évaluations à venir.",
                       code="target_set_in_use")
    others = [_of(r) for r in conn.execute(sa.select(_SET).where(_SET.c.id != new.id))]
    taken = next((o for o in others if (o.campaign_year, o.category) == (new.campaign_year, new.category)), None)
    if taken is not None:
        raise Conflict(f"Le jeu « {taken.id} » s'applique déjà à cette campagne et à cette catégorie : remplacez-le "
                       "plutôt que d'en créer un second.", code="target_set_scope_taken")
    if not any((o.campaign_year, o.category) == (None, None) for o in [*others, new]):
        raise ValidationFailed([Issue(code="target_set_default_required", field="campaign_year", message=(
            "Un jeu de cibles doit s'appliquer à toutes les campagnes et à toutes les catégories (campaign_year "
            "et category nuls) : c'est celui qu'on applique à défaut d'un jeu plus précis."))])
    values = {"label": new.label, "campaign_year": new.campaign_year, "category": new.category,
              "binding": new.binding, "updated_at": utcnow(), **{key: new.target(key) for key in INDICATOR_KEYS}}
    if current is None:
        conn.execute(sa.insert(_SET).values(id=new.id, created_at=values["updated_at"], **values))
    else:
        conn.execute(sa.update(_SET).where(_SET.c.id == new.id).values(**values))
    shown = view(new, used=False)
    audit.record(session, principal, "target_set_created" if current is None else "target_set_replaced",
                 "target_set", new.id, payload={k: shown[k] for k in ("label", "campaign_year", "category", "values",
                                                                       "binding")})
    return shown, current is None


def get_set(session: Session, set_id: str) -> dict[str, Any]:
    row = session.connection().execute(sa.select(_SET).where(_SET.c.id == set_id)).one_or_none()
    if row is None:
        raise NotFound(f"Jeu de cibles « {set_id} » introuvable.", code="target_set_not_found")
    return view(_of(row), used=_used(session.connection(), set_id))
