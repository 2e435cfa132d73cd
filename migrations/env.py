"""Alembic environment: migrates the database named by the service settings
(``SERVICE_DATABASE_URL``), or by ``sqlalchemy.url`` when a caller sets it."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context

from service import models
from service.kit.db import create_db_engine, is_sqlite
from service.kit.settings import get_settings

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = models.SQLModel.metadata


def _url() -> str:
    return config.get_main_option("sqlalchemy.url") or get_settings().database_url


def run_migrations_offline() -> None:
    url = _url()
    context.configure(url=url, target_metadata=target_metadata, literal_binds=True,
                      render_as_batch=is_sqlite(url), dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


#: Indexes with a descending column: autogenerate cannot compare their expressions, so it leaves
#: them out (``tests/test_migrations.py`` checks their definition on the database instead).
DESCENDING_INDEXES = frozenset({"ix_control_case_queue", "ix_control_case_status_queue"})


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    return not (type_ == "index" and name in DESCENDING_INDEXES)


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = _url()
    engine = create_db_engine(url, pool_size=1, write=True)
    with engine.connect() as conn:
        _run(conn)
    engine.dispose()


def _run(connection: object) -> None:
    context.configure(connection=connection, target_metadata=target_metadata,  # type: ignore[arg-type]
                      render_as_batch=connection.dialect.name == "sqlite",  # type: ignore[attr-defined]
                      compare_type=True, include_object=include_object)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
