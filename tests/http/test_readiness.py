"""``/readyz``: ready while the database answers, the proof store can take a proof and the log's
sequencer keeps up; not ready, with each reason, otherwise (``/healthz`` stays about liveness)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from time_machine import TimeMachineFixture

from service.main import create_app
from tests.conftest import Api, make_settings, rows_for


def test_ready_then_not_while_the_log_falls_behind_then_ready_once_it_catches_up(
        api: Api, time_machine: TimeMachineFixture) -> None:
    api.sequence()
    ready = api.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text
    assert {name: check["ok"] for name, check in ready.json()["checks"].items()} == {
        "database": True, "proof_store": True, "log": True}

    req = api.create_request()
    api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)})
    time_machine.move_to(datetime.now(UTC) + timedelta(minutes=2), tick=True)
    late = api.client.get("/readyz")
    assert late.status_code == 503 and late.json()["status"] == "not_ready"
    log = late.json()["checks"]["log"]
    assert log["ok"] is False and log["oldest_unsequenced_seconds"] >= 120
    assert "attend son rang dans le journal" in log["detail"]
    assert api.client.get("/healthz").status_code == 200  # alive all the same

    api.sequence()
    assert api.client.get("/readyz").status_code == 200


def test_a_proof_store_without_room_or_without_its_folder_is_not_ready(database_url: str, tmp_path: Path) -> None:
    # more room asked for than any disk has: the store's free space is measured, not assumed
    settings = make_settings(database_url, storage_dir=tmp_path / "proofs", max_proof_bytes=10**18)
    with TestClient(create_app(settings)) as client:
        answer = client.get("/readyz")
        assert answer.status_code == 503
        assert "presque plein" in answer.json()["checks"]["proof_store"]["detail"]
    settings = make_settings(database_url, storage_dir=tmp_path / "proofs")
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").status_code == 200
        staging = tmp_path / "proofs" / "staging"
        shutil.rmtree(staging)
        staging.write_text("pas un dossier")  # the folder gone, a file in its place
        answer = client.get("/readyz")
        assert answer.status_code == 503 and answer.json()["checks"]["database"]["ok"] is True
        assert "dossier de dépôt inutilisable" in answer.json()["checks"]["proof_store"]["detail"]
