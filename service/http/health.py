"""Liveness of the service and of its database."""

from __future__ import annotations

from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from service.http.deps import DatabaseDep
from service.http.problems import database_unavailable
from service.http.routing import api_router

router = api_router(tags=["exploitation"])


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
