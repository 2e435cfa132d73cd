"""Request ids and JSON logs: ``X-Request-Id`` accepted or made and sent back; the server's log
lines JSON objects carrying it; never a secret in them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.conftest import ROOT, Api, sqlite_with_admin
from tests.pg_cluster import free_port


def test_the_id_is_the_caller_s_when_sensible_else_a_new_one(api: Api) -> None:
    given = api.client.get("/healthz", headers={"X-Request-Id": "appel-42.essai:1"})
    assert given.headers["x-request-id"] == "appel-42.essai:1"
    made = {api.client.get("/healthz").headers["x-request-id"] for _ in range(3)}
    assert len(made) == 3 and all(len(value) == 32 and int(value, 16) >= 0 for value in made)
    for odd in ("x" * 101, "deux mots", "<script>"):
        replaced = api.client.get("/healthz", headers={"X-Request-Id": odd}).headers["x-request-id"]
        assert replaced != odd and len(replaced) == 32
    # on a refusal too, and once only
    refused = api.client.get("/v1/funding-requests", headers={"X-Request-Id": "refus-1"})
    assert refused.status_code == 401 and refused.headers.get_list("x-request-id") == ["refus-1"]


def test_the_server_logs_json_lines_with_the_request_id_and_no_secret(tmp_path: Path) -> None:
    url, secret = sqlite_with_admin(tmp_path / "logs.sqlite3", label="journal")
    port = free_port()
    env = {**os.environ, "SERVICE_DATABASE_URL": url, "SERVICE_LOG_FORMAT": "json",
           "SERVICE_STORAGE_DIR": str(tmp_path / "proofs"), "SERVICE_WEBHOOKS_DELIVERER": "off",
           "SERVICE_SIGNING_DIR": str(tmp_path / "signing"), "SERVICE_LOG_DIR": str(tmp_path / "signing")}
    errors = tmp_path / "stderr.txt"
    with errors.open("wb") as sink:
        server = subprocess.Popen([sys.executable, "-m", "uvicorn", "service.main:app", "--port", str(port)],
                                  cwd=ROOT, env=env, stdout=sink, stderr=sink, start_new_session=True)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(200):
                try:
                    httpx.get(f"{base}/healthz")
                    break
                except httpx.TransportError:
                    time.sleep(0.05)
            answer = httpx.get(f"{base}/v1/funding-requests?limit=5", headers={
                "Authorization": f"Bearer {secret}", "X-Request-Id": "suivi-7"})
            assert answer.status_code == 200 and answer.headers["x-request-id"] == "suivi-7"
            missing = httpx.get(f"{base}/v1/funding-requests/99999999", headers={"Authorization": f"Bearer {secret}"})
            assert missing.status_code == 404
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=20)
    text = errors.read_text(encoding="utf-8")
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # every line is a JSON object
    assert secret not in text and secret[:12] not in text and "Bearer" not in text
    [served] = [line for line in lines if line.get("request_id") == "suivi-7"]
    assert served["logger"] == "service.requests" and served["status"] == 200 and served["method"] == "GET"
    assert served["path"] == "/v1/funding-requests" and served["route"] == "/v1/funding-requests"
    assert "limit" not in json.dumps(served)  # no query string
    assert {line["status"] for line in lines if line.get("path") == "/v1/funding-requests/99999999"} == {404}
    assert any(line["logger"].startswith("uvicorn") for line in lines)  # the server's own lines too
