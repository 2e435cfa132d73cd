"""The restore drill, on both backends: back up a running service (online), restore into empty
targets, ``audit verify --checkpoint <witness>`` passes, every proof matches its SHA-256, pushes
go on; a non-empty target and an altered backup are refused and nothing is written."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.main import create_app
from tests import factories, proof_files
from tests.conftest import ROOT, SIGNING_DIR, Api, make_settings, rows_for


def cli(url: str, store: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SERVICE_DATABASE_URL": url, "SERVICE_STORAGE_DIR": str(store),
           "SERVICE_SIGNING_DIR": str(SIGNING_DIR), "SERVICE_LOG_DIR": str(SIGNING_DIR)}
    return subprocess.run([sys.executable, "-m", "service", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, check=False)


def empty_target(backend: str, tmp_path: Path, request: pytest.FixtureRequest, name: str) -> str:
    if backend == "sqlite":
        return f"sqlite:///{tmp_path / f'{name}.sqlite3'}"
    return str(request.getfixturevalue("pg_cluster").create_database(name))


def test_the_restore_drill(api: Api, database_url: str, backend: str, tmp_path: Path,
                           request: pytest.FixtureRequest) -> None:
    req = api.create_request(vsr_on="2024-06-01", establishments=[
        {"finess": factories.finess("24", 1), "name": "EHPAD Les Œillets"},
        {"finess": factories.finess("33", 2), "name": "SSIAD du Médoc"}])
    version = api.push(req["galis_ref"], {"milestone": "fin_projet", "rows": rows_for(req)}).json()["id"]
    contents = {proof_files.pdf("Rapport d'usage, EHPAD"): req["establishments"][0]["finess"],
                proof_files.png(): req["establishments"][1]["finess"]}
    for content, finess in contents.items():
        kind = "image/png" if content.startswith(b"\x89PNG") else "application/pdf"
        assert api.upload_proof(version, content, finess=finess, content_type=kind,
                                filename="preuve.png" if kind == "image/png" else "preuve.pdf").status_code == 201
    api.sequence()
    witness = tmp_path / "temoin.txt"
    witness.write_text(api.client.get("/v1/log/checkpoint", headers=api.auth(api.admin)).text, encoding="utf-8")
    store = Path(api.client.app.state.settings.storage_dir)  # type: ignore[attr-defined]

    # online: the service keeps running and writing meanwhile
    backup = tmp_path / "sauvegarde"
    saved = cli(database_url, store, "backup", str(backup))
    assert saved.returncode == 0, saved.stderr
    assert "2 preuve(s)" in saved.stdout
    manifest = (backup / "manifest-sha256.txt").read_text().splitlines()
    assert {line.split("  ")[1] for line in manifest} >= {f"proofs/{hashlib.sha256(c).hexdigest()}" for c in contents}
    assert api.push(req["galis_ref"], {"milestone": "fin_projet", "rows": rows_for(req, active_dui=96)}) \
        .status_code == 201

    # an altered backup is refused before anything is written
    altered = tmp_path / "alteree"
    subprocess.run(["cp", "-r", str(backup), str(altered)], check=True)
    victim = next((altered / "proofs").iterdir())
    victim.write_bytes(victim.read_bytes()[:-1] + b"\0")
    target_url, target_store = empty_target(backend, tmp_path, request, "restored"), tmp_path / "restored-proofs"
    refused = cli(target_url, target_store, "restore", str(altered))
    assert refused.returncode == 2 and f"fichier altéré dans la sauvegarde : proofs/{victim.name}" in refused.stderr
    assert not list((target_store / "objects").glob("??/*")) if (target_store / "objects").exists() else True

    restored = cli(target_url, target_store, "restore", str(backup))
    assert restored.returncode == 0, restored.stderr
    verified = cli(target_url, target_store, "audit", "verify", "--checkpoint", str(witness))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "cohérent avec le point de contrôle du témoin" in verified.stdout

    # a second restore onto what is now filled is refused
    again = cli(target_url, target_store, "restore", str(backup))
    assert again.returncode == 2 and "n'est pas vide" in again.stderr

    settings = make_settings(target_url, storage_dir=target_store)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        after = Api(client)
        admin = {"Authorization": f"Bearer {api.admin}"}  # the keys come back with the database
        view: dict[str, Any] = client.get(f"/v1/submissions/{version}", headers=admin).json()
        assert len(view["proofs"]) == 2
        for proof in view["proofs"]:
            fetched = client.get(proof["content_url"], headers=admin)
            assert fetched.status_code == 200 and hashlib.sha256(fetched.content).hexdigest() == proof["sha256"]
        pushed = client.post(f"/v1/funding-requests/{req['galis_ref']}/submissions", headers=admin,
                             json={"milestone": "fin_projet", "rows": rows_for(req, active_dui=97)})
        assert pushed.status_code == 201, pushed.text
        after.sequence()
    verified = cli(target_url, target_store, "audit", "verify", "--checkpoint", str(witness))
    assert verified.returncode == 0, verified.stdout + verified.stderr
