"""GET /metrics: guarded by its token, parsed by prometheus_client's own parser; requests counted
by route template and status, the queues read from the database; under ``serve --workers 2``,
the workers' counters added up whichever worker answers the scrape."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from service.main import create_app
from tests.conftest import Api, make_settings, rows_for
from tests.http.test_server import served

TOKEN = "jeton-des-metriques-0123456789"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(database_url, metrics_token=TOKEN)),
                    raise_server_exceptions=False) as test_client:
        yield test_client


def scrape(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return samples(response.text)


def test_the_token_guards_the_metrics(api: Api, database_url: str) -> None:
    assert api.client.get("/metrics").status_code == 401
    wrong = api.client.get("/metrics", headers={"Authorization": "Bearer jeton-faux-0123456789"})
    assert wrong.status_code == 401 and wrong.json()["code"] == "unauthenticated"
    assert api.client.get("/metrics", headers=api.auth(api.admin)).status_code == 401  # an API key is not it
    with TestClient(create_app(make_settings(database_url))) as without:
        assert without.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 404


def test_requests_and_queues_are_counted(api: Api) -> None:
    before = scrape(api.client)
    for _ in range(3):
        assert api.client.get("/v1/me", headers=api.auth(api.admin)).status_code == 200
    assert api.client.get("/v1/funding-requests/99999999", headers=api.auth(api.admin)).status_code == 404
    req = api.create_request()
    assert api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)}).status_code == 201
    after = scrape(api.client)
    me = {"method": "GET", "route": "/v1/me", "status": "200"}
    assert value(after, "esms_http_requests_total", **me) - value(before, "esms_http_requests_total", **me) == 3
    missing = {"method": "GET", "route": "/v1/funding-requests/{galis_ref:request_ref}", "status": "404"}
    assert value(after, "esms_http_requests_total", **missing) - value(before, "esms_http_requests_total",
                                                                        **missing) == 1
    durations = {"method": "GET", "route": "/v1/me"}
    assert value(after, "esms_http_request_duration_seconds_count", **durations) \
        - value(before, "esms_http_request_duration_seconds_count", **durations) == 3
    assert value(after, "esms_versions_total") == 1 and value(after, "esms_review_queue_versions") == 1
    assert value(after, "esms_log_unsequenced_events") > 0
    assert value(after, "esms_log_sequencer_lag_seconds") >= 0
    api.sequence()
    sequenced = scrape(api.client)
    assert value(sequenced, "esms_log_unsequenced_events") == 0
    assert value(sequenced, "esms_log_sequencer_lag_seconds") == 0
    assert ("esms_db_connections_in_use", (("engine", "read"),)) in sequenced


def test_the_workers_counters_are_added_up(tmp_path: Path) -> None:
    folder = tmp_path / "metrics"
    folder.mkdir()
    (folder / "counter_1.db").write_bytes(b"")  # a previous run's file: removed at start
    with served(tmp_path, workers=2, metrics_token=TOKEN,
                environment={"PROMETHEUS_MULTIPROC_DIR": str(folder)}) as server:
        # a new connection each, until both workers have served some (the second may still be
        # starting when the first answers)
        sent, deadline = 0, time.monotonic() + 30
        while sent < 40 or (len(list(folder.glob("counter_*.db"))) < 2 and time.monotonic() < deadline):
            assert httpx.get(f"{server.base}/healthz").status_code == 200
            sent += 1
        counters = {path.name for path in folder.glob("counter_*.db")}
        assert len(counters) >= 2 and "counter_1.db" not in counters
        auth = {"Authorization": f"Bearer {TOKEN}"}
        for _ in range(6):  # whichever worker answers, the sum
            found = samples(httpx.get(f"{server.base}/metrics", headers=auth).text)
            assert value(found, "esms_http_requests_total", method="GET", route="/healthz", status="200") >= sent
            assert value(found, "esms_http_requests_total", method="GET", route="/healthz", status="200") \
                == value(found, "esms_http_request_duration_seconds_count", method="GET", route="/healthz")
