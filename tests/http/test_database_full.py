"""A full database disk (SQLite on a real tmpfs): writes are answered 507 ``database_full`` (not
"unreachable"), one log line and no traceback, nothing half stored; reads go on; ``/readyz`` says
why it is not ready; once room returns the log's sequencer catches up by itself and writes go
through again."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from service.kit.db import is_database_full
from service.main import create_app
from tests import factories
from tests.conftest import Api, MigratedDatabase, fill_disk, make_settings, rows_for, small_disk


@pytest.mark.parametrize("migrated_db", ["sqlite"], indirect=True)  # a PostgreSQL server's disk is its own
def test_a_full_database_answers_507_and_the_log_catches_up_once_room_returns(
        migrated_db: MigratedDatabase, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    template = migrated_db.template
    assert template is not None
    with small_disk(tmp_path / "disk", "24m") as disk:
        shutil.copyfile(template, disk / "service.sqlite3")
        settings = make_settings(f"sqlite:///{disk / 'service.sqlite3'}", storage_dir=tmp_path / "proofs",
                                 log_sequence_interval_ms=100)
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            api = Api(client)
            req = api.create_request(establishments=[
                {"finess": factories.finess("24", n + 1), "name": f"EHPAD {n}"} for n in range(40)])
            body = {"milestone": "va", "rows": rows_for(req)}
            sequencer = client.app.state.sequencer  # type: ignore[attr-defined]
            run_once = sequencer.run_once
            sequencer.run_once = lambda: None  # its thread holds off: the push's events wait unsequenced
            assert api.push(req["galis_ref"], body).status_code == 201

            def unsequenced() -> int:
                with api.database.engine.connect() as conn:
                    return int(conn.execute(sa.text("SELECT count(*) FROM audit_event WHERE log_index IS NULL"))
                               .scalar_one())

            filler = fill_disk(disk)
            caplog.clear()
            with caplog.at_level(logging.WARNING):
                refused = api.push(req["galis_ref"], {**body, "rows": rows_for(req, active_dui=96)})
            assert refused.status_code == 507, refused.text
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.json()["code"] == "database_full" and "rien n'a été enregistré" in refused.json()["detail"]
            assert int(refused.headers["retry-after"]) > 0
            served = [r for r in caplog.records if r.name == "service.http.problems"]
            assert len(served) == 1 and "database full" in served[0].getMessage()
            assert not [r for r in caplog.records if r.exc_info]  # no traceback anywhere
            assert api.count("submission") == 1
            # reads go on
            listed = client.get(f"/v1/funding-requests/{req['galis_ref']}/submissions", headers=api.auth(api.admin))
            assert listed.status_code == 200 and len(listed.json()["items"]) == 1
            ready = client.get("/readyz")
            assert ready.status_code == 503
            assert "base de données pleine" in ready.json()["checks"]["database"]["detail"]
            # the sequencer cannot write either; its thread goes on trying at its interval
            assert unsequenced() > 0
            with pytest.raises(sa.exc.OperationalError) as failed:
                run_once()
            assert is_database_full(failed.value)
            del sequencer.run_once
            time.sleep(0.5)
            assert unsequenced() > 0

            filler.unlink()
            deadline = time.monotonic() + 20
            while unsequenced() and time.monotonic() < deadline:
                time.sleep(0.1)
            assert unsequenced() == 0  # caught up by itself, at its interval
            again = api.push(req["galis_ref"], {**body, "rows": rows_for(req, active_dui=96)})
            assert again.status_code == 201, again.text
            assert client.get("/readyz").status_code == 200
            assert api.client.get("/v1/log/checkpoint", headers=api.auth(api.admin)).status_code == 200


def test_postgresql_s_disk_full_is_told_apart_from_an_outage() -> None:
    """PostgreSQL says SQLSTATE 53100 (disk_full) through psycopg; a server going away is not full."""
    import psycopg

    full = sa.exc.OperationalError("INSERT …", {}, psycopg.errors.DiskFull(
        "could not extend file \"base/16384/2619\": No space left on device"))
    gone = sa.exc.OperationalError("INSERT …", {}, psycopg.errors.AdminShutdown("terminating connection"))
    assert is_database_full(full) and not is_database_full(gone)
