"""Baseline for the benchmarks: the same framework, one route returning a constant."""

from fastapi import FastAPI

app = FastAPI()


@app.get("/bare")
async def bare() -> dict[str, str]:
    return {"status": "ok"}
