"""The command line: keys are printed once, stored hashed, and work."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from fastapi.testclient import TestClient

from service.access.keys import hash_key
from service.main import create_app
from tests.conftest import SIGNING_DIR, alembic_config, make_settings

ROOT = Path(__file__).resolve().parent.parent


def run_cli(database_url: str, *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """``python -m service ARGS`` on the test's database, with the signing keys of the tests' apps."""
    env = {**os.environ, "SERVICE_DATABASE_URL": database_url, "SERVICE_SIGNING_DIR": str(SIGNING_DIR),
           "SERVICE_LOG_DIR": str(SIGNING_DIR)}
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
        stored = conn.execute(sa.text("SELECT key_hash, role, organisation_id FROM api_key")).one()
        mandated = conn.execute(sa.text("SELECT galis_ref FROM mandate WHERE editeur_id = :o"),
                                {"o": stored[2]}).scalars().all()
        granted = conn.execute(sa.text(  # each grant audited under the mandate it made
            "SELECT e.galis_ref, m.galis_ref FROM audit_event e JOIN mandate m ON m.id = e.object_id "
            "WHERE e.action = 'mandate_granted'")).all()
    engine.dispose()
    assert stored[0] == hash_key(secret) and secret not in str(stored)
    assert stored[1] == "vendor"
    assert sorted(mandated) == ["12345678", "23456789"]
    assert sorted(tuple(g) for g in granted) == [("12345678", "12345678"), ("23456789", "23456789")]
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


def test_revoke_key_by_its_prefix_refuses_the_key_from_then_on(database_url: str) -> None:
    created = run_cli(database_url, "create-key", "--role", "cnsa_auditor", "--label", "Auditeur parti")
    secret = created.stdout.strip().splitlines()[-1]
    assert f"préfixe {secret[:12]}" in created.stdout
    revoked = run_cli(database_url, "revoke-key", secret[:12])
    assert revoked.returncode == 0, revoked.stderr
    assert "révoquée" in revoked.stdout
    again = run_cli(database_url, "revoke-key", secret[:12])
    unknown = run_cli(database_url, "revoke-key", "esms_0000000")
    assert again.returncode == 1 and "révoquée depuis" in again.stderr
    assert unknown.returncode == 1 and "Aucune clé" in unknown.stderr
    with TestClient(create_app(make_settings(database_url))) as client:
        response = client.get("/v1/funding-requests", headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 401 and response.json()["code"] == "api_key_revoked"
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        actions = [a for (a,) in conn.execute(sa.text("SELECT action FROM audit_event ORDER BY seq"))]
    engine.dispose()
    assert actions == ["api_key_created", "api_key_revoked"]


def test_create_key_with_an_expiry_date(database_url: str) -> None:
    past = run_cli(database_url, "create-key", "--role", "cnsa_auditor", "--expires-on", "2020-01-01")
    malformed = run_cli(database_url, "create-key", "--role", "cnsa_auditor", "--expires-on", "31/12/2030")
    assert past.returncode == 2 and "postérieure" in past.stderr
    assert malformed.returncode == 2 and "AAAA-MM-JJ" in malformed.stderr
    future = run_cli(database_url, "create-key", "--role", "cnsa_auditor", "--expires-on", "2099-12-31")
    assert future.returncode == 0 and "refusée à partir du 2099-12-31" in future.stdout
    engine = sa.create_engine(database_url)
    with engine.connect() as conn:
        assert [str(d) for (d,) in conn.execute(sa.text("SELECT expires_on FROM api_key"))] == ["2099-12-31"]
    engine.dispose()


def test_demo_on_a_fresh_database_beside_an_old_keys_file_seeds_and_prints_keys_that_work(tmp_path: Path) -> None:
    keys_file = tmp_path / "demo-keys.json"
    databases = []
    for name in ("first", "fresh"):  # the newcomer deletes the database, not the keys file
        url = f"sqlite:///{tmp_path / name}.sqlite3"
        command.upgrade(alembic_config(url), "head")
        databases.append(url)
    first = run_cli(databases[0], "demo", "--keys-file", str(keys_file))
    second = run_cli(databases[1], "demo", "--keys-file", str(keys_file))
    assert first.returncode == 0 and second.returncode == 0, second.stderr
    assert second.stdout == first.stdout
    keys = {line.split()[0]: line.split()[-1] for line in second.stdout.splitlines()[1:]}
    assert set(keys) == {"admin", "ars_reviewer", "cnsa_auditor", "porteur", "vendor"}
    with TestClient(create_app(make_settings(databases[1]))) as client:
        for role, key in keys.items():
            listed = client.get("/v1/funding-requests", headers={"Authorization": f"Bearer {key}"})
            assert listed.status_code == 200, (role, listed.text)
        everything = client.get("/v1/funding-requests", headers={"Authorization": f"Bearer {keys['admin']}"})
    assert [r["galis_ref"] for r in everything.json()["items"]] == ["12345678", "23456789", "34567890", "45678901"]
