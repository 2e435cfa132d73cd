"""The command line: keys are printed once, stored hashed, and work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from fastapi.testclient import TestClient

from service.api_keys import hash_key
from service.main import create_app
from tests.conftest import make_settings

ROOT = Path(__file__).resolve().parent.parent


def run_cli(database_url: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SERVICE_DATABASE_URL": database_url}
    return subprocess.run([sys.executable, "-m", "service", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=120)


def test_create_key_prints_the_key_alone_on_the_last_line_and_stores_its_hash(database_url: str) -> None:
    result = run_cli(database_url, "create-key", "--role", "vendor", "--galis-ref", "12345678", "23456789",
                     "--label", "Éditeur X")
    assert result.returncode == 0, result.stderr
    secret = result.stdout.strip().splitlines()[-1]
    assert secret.startswith("esms_") and " " not in secret
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT key_hash, role, galis_refs FROM api_key")).one()
    engine.dispose()
    assert stored[0] == hash_key(secret) and secret not in str(stored)
    assert stored[1] == "vendor"
    with TestClient(create_app(make_settings(database_url))) as client:
        response = client.get("/v1/funding-requests", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200 and response.json()["items"] == []


def test_create_key_refuses_an_incoherent_scope(database_url: str) -> None:
    result = run_cli(database_url, "create-key", "--role", "porteur", "--siret", "73282932000079")
    assert result.returncode == 2 and "SIRET" in result.stderr
    result = run_cli(database_url, "create-key", "--role", "ars_reviewer", "--region", "99")
    assert result.returncode == 2 and "région" in result.stderr


def test_demo_seeds_once_and_prints_the_same_keys(database_url: str, tmp_path: Path) -> None:
    keys_file = tmp_path / "demo-keys.json"
    first = run_cli(database_url, "demo", "--keys-file", str(keys_file))
    second = run_cli(database_url, "demo", "--keys-file", str(keys_file))
    assert first.returncode == 0 and first.stdout == second.stdout, first.stderr
    assert oct(keys_file.stat().st_mode & 0o777) == "0o600"
    vendor = next(line.split()[-1] for line in first.stdout.splitlines() if line.strip().startswith("vendor"))
    with TestClient(create_app(make_settings(database_url))) as client:
        example = {"milestone": "va", "rows": [{
            "finess": "240000372", "raison_sociale": "EHPAD Les Tilleuls", "dmp_fed": 40,
            "mss_messages_sent": 120, "active_dui": 95, "persons_accompanied": 100,
            "dui_with_personal_plan": 90, "dui_with_agenda_event": 93,
            "period_start": "2024-01-01", "period_end": "2024-03-31"}]}
        response = client.post("/v1/funding-requests/12345678/submissions", json=example,
                               headers={"Authorization": f"Bearer {vendor}"})
    assert response.status_code == 201 and response.json()["version"] == 1
