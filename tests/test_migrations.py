"""The schema is built by Alembic only: models and migrations agree, every revision walks
up and down (stairway), on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory

from tests.conftest import BACKENDS, alembic_config
from tests.pg_cluster import PostgresCluster


@pytest.fixture(params=BACKENDS)
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'stairway.sqlite3'}"
    cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    return cluster.create_database("stairway")


def test_models_and_migrations_agree(fresh_url: str) -> None:
    config = alembic_config(fresh_url)
    command.upgrade(config, "head")
    command.check(config)  # raises when autogenerate would find a difference


def test_stairway_every_revision_upgrades_downgrades_and_upgrades_again(fresh_url: str) -> None:
    config = alembic_config(fresh_url)
    revisions = list(ScriptDirectory.from_config(config).walk_revisions("base", "heads"))
    revisions.reverse()
    assert revisions, "no migration found"
    for revision in revisions:
        command.upgrade(config, revision.revision)
        command.downgrade(config, revision.down_revision or "base")
        command.upgrade(config, revision.revision)


def test_migration_files_follow_the_naming_convention() -> None:
    versions = Path(__file__).resolve().parent.parent / "migrations" / "versions"
    names = [p.name for p in versions.glob("*.py")]
    assert names and all(len(n) > 16 and n[4] == "-" and n[10] == "-" and n[15] == "_" for n in names), names
