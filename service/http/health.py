"""Liveness (``/healthz``: the database answers) and readiness (``/readyz``: the database, the
proof store and the log's sequencer can do their work), without authentication: they say what
state the service is in, nothing about its data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from service.http.deps import DatabaseDep, SettingsDep
from service.http.problems import database_unavailable
from service.http.routing import api_router
from service.kit.db import Database
from service.kit.settings import Settings
from service.kit.storage import ProofStore
from service.models import AUDIT_EVENT_TABLE, utcnow

router = api_router(tags=["exploitation"])

_OLDEST_UNSEQUENCED = (sa.select(AUDIT_EVENT_TABLE.c.occurred_at).where(AUDIT_EVENT_TABLE.c.log_index.is_(None))
                       .order_by(AUDIT_EVENT_TABLE.c.seq).limit(1))


@router.get(
    "/healthz",
    summary="État du service",
    description="Répond 200 quand la base de données est joignable, 503 sinon. Sans authentification.",
    operation_id="get_health",
    responses={200: {"content": {"application/json": {"example": {"status": "ok"}}}},
               503: {"description": "Base de données injoignable."}},
)
async def healthz(database: DatabaseDep) -> JSONResponse:
    if await run_in_threadpool(database.ping):
        return JSONResponse({"status": "ok"})
    return database_unavailable()


_READY_EXAMPLE = {"status": "ready", "checks": {
    "database": {"ok": True, "detail": None}, "proof_store": {"ok": True, "detail": None},
    "log": {"ok": True, "detail": None, "oldest_unsequenced_seconds": 0.0}}}


@router.get(
    "/readyz",
    summary="Prêt à servir",
    description="200 quand le service peut faire son travail : la base de données répond, le stockage des preuves "
                "accepte une preuve de la taille maximale, et aucun événement d'audit n'attend son rang dans le "
                "journal depuis plus de `SERVICE_READY_MAX_LOG_LAG_SECONDS` (60 s). 503 sinon, avec la raison de "
                "chaque vérification en échec. Sans authentification ; à donner au répartiteur de charge, quand "
                "`/healthz` sert à relancer le processus.",
    operation_id="get_readiness",
    responses={200: {"content": {"application/json": {"example": _READY_EXAMPLE}}},
               503: {"description": "Pas prêt : la raison de chaque vérification en échec."}},
)
async def readyz(request: Request, database: DatabaseDep, settings: SettingsDep) -> JSONResponse:
    store: ProofStore = request.app.state.proof_store
    checks = await run_in_threadpool(readiness, database, store, settings, utcnow())
    ready = all(check["ok"] for check in checks.values())
    return JSONResponse({"status": "ready" if ready else "not_ready", "checks": checks},
                        status_code=200 if ready else 503, headers={"Cache-Control": "no-store"})


def readiness(database: Database, store: ProofStore, settings: Settings, now: datetime) -> dict[str, Any]:
    """Each check: ``ok`` and, when not, a French ``detail``."""
    checks: dict[str, Any] = {}
    oldest: datetime | None = None
    reachable = False
    try:
        with database.engine.connect() as conn:
            oldest = conn.execute(_OLDEST_UNSEQUENCED).scalar_one_or_none()
        reachable = True
        full_for = database.full_for()
        checks["database"] = {"ok": full_for is None, "detail": None if full_for is None else
                              f"base de données pleine : une écriture a été refusée faute de place il y a "
                              f"{full_for:.0f} s"}
    except sa.exc.SQLAlchemyError:
        checks["database"] = {"ok": False, "detail": "base de données injoignable"}
    problem = store.readiness(room_for=settings.max_proof_bytes)
    checks["proof_store"] = {"ok": problem is None, "detail": problem}
    waited = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    late = waited > settings.ready_max_log_lag_seconds
    checks["log"] = {"ok": reachable and not late, "oldest_unsequenced_seconds": round(waited, 1),
                     "detail": f"un événement attend son rang dans le journal depuis {waited:.0f} s" if late else
                     None if reachable else "base de données injoignable"}
    return checks
