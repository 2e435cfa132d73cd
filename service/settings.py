"""Settings, read once from the environment (prefix ``SERVICE_``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

VAR_DIR = Path("var")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SERVICE_", extra="ignore")

    database_url: str = Field(
        default=f"sqlite:///{VAR_DIR / 'service.sqlite3'}",
        description="SQLAlchemy URL: sqlite:///path or postgresql+psycopg://user@host/db",
    )
    db_pool_size: int = Field(default=4, ge=1, description="Read connections per process (PostgreSQL).")
    writer_threads: int = Field(
        default=0, ge=0,
        description="Writer threads per process; 0 = 1 on SQLite (single writer), 2 on PostgreSQL.",
    )
    writer_batch_size: int = Field(default=64, ge=1, description="Most writes committed together.")
    max_json_body_bytes: int = Field(default=5_000_000, ge=1024, description="Largest JSON body accepted.")
    max_rows: int = Field(default=5_000, ge=1, description="Most rows in one declaration.")
    api_key_cache_seconds: float = Field(default=30.0, ge=0, description="How long a verified key is cached.")
    timezone: str = Field(default="Europe/Paris", description="Zone of 'today' for date rules.")


@lru_cache
def get_settings() -> Settings:
    return Settings()
