"""HTTP as RFC 9110 and a careful client expect it: methods, HEAD, the caller before the body,
bounded bodies, and a database outage answered 503."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.main import create_app
from tests import factories
from tests.conftest import Api, alembic_config, make_settings, rows_for
from tests.pg_cluster import PostgresCluster

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class TestMethodNotAllowed:
    @pytest.mark.parametrize(("method", "path", "allow"), [
        ("DELETE", "/v1/funding-requests", "GET, HEAD, POST"),
        ("PUT", "/v1/funding-requests/12345678/events", "GET, HEAD, POST"),
        ("PATCH", "/v1/funding-requests/12345678/submissions", "GET, HEAD, POST"),
        ("DELETE", "/healthz", "GET, HEAD"),
        ("GET", "/v1/reports/verify", "POST"),
    ])
    def test_allow_lists_every_method_served_at_the_path(self, api: Api, method: str, path: str,
                                                         allow: str) -> None:
        response = api.client.request(method, path, headers=api.auth(api.admin))
        assert response.status_code == 405
        assert response.headers["allow"] == allow
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["code"] == "method_not_allowed"

    def test_allow_matches_the_openapi_description_on_every_path(self, api: Api) -> None:
        spec = api.client.app.openapi()  # type: ignore[attr-defined]
        for template, item in spec["paths"].items():
            path = template.replace("{galis_ref}", "12345678").replace("{prefix}", "esms_abcdefg")
            path = path.replace("{", "").replace("}", "")  # other ids: any text routes the same
            served = {m.upper() for m in item}
            for method in set(METHODS) - served:
                response = api.client.request(method, path, headers=api.auth(api.admin))
                assert response.status_code == 405, (method, template)
                expected = set(served) | ({"HEAD"} if "GET" in served else set())
                assert set(response.headers["allow"].split(", ")) == expected, (method, template)


class TestHead:
    def test_head_answers_as_get_without_the_content(self, api: Api) -> None:
        got = api.client.get("/healthz")
        head = api.client.head("/healthz")
        assert head.status_code == 200
        assert head.content == b""
        assert head.headers["content-length"] == got.headers["content-length"] == str(len(got.content))

    def test_head_on_a_signed_report_gives_its_length_and_type(self, api: Api) -> None:
        req = api.create_request()
        pushed = api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)})
        path = f"/v1/submissions/{pushed.json()['id']}/report.pdf"
        got = api.client.get(path, headers=api.auth(api.admin))
        head = api.client.head(path, headers=api.auth(api.admin))
        assert head.status_code == 200 and head.content == b""
        assert head.headers["content-type"] == "application/pdf"
        assert head.headers["content-length"] == str(len(got.content))
        assert head.headers["etag"] == got.headers["etag"]

    def test_head_is_authenticated_like_get(self, api: Api) -> None:
        response = api.client.head("/v1/funding-requests")
        assert response.status_code == 401
        assert response.content == b""

    def test_head_where_no_get_is_served_is_405(self, api: Api) -> None:
        response = api.client.head("/v1/reports/verify", headers=api.auth(api.admin))
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"


def _raw_post(client: TestClient, path: str, key: str | None, chunks: list[bytes]) -> tuple[int, dict[str, Any], int]:
    """Post ``chunks`` to the app at the ASGI level; return the status, the body and how many
    body chunks the app asked for."""
    import json

    asked = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal asked
        asked += 1
        index = asked - 1
        if index < len(chunks):
            return {"type": "http.request", "body": chunks[index], "more_body": index < len(chunks) - 1}
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    headers = [(b"content-type", b"application/json"), (b"host", b"testserver")]
    if key:
        headers.append((b"authorization", f"Bearer {key}".encode()))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"", "headers": headers,
             "client": ("127.0.0.1", 1234), "server": ("testserver", 80)}
    client.portal.call(client.app, scope, receive, send)  # type: ignore[union-attr]
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], json.loads(body), asked


class TestCallerBeforeBody:
    """Every route checks the key, then the role, before it reads a byte of the body."""

    @pytest.mark.parametrize(("path", "role"), [
        ("/v1/funding-requests", "vendor"),
        ("/v1/funding-requests/12345678/events", "porteur"),
        ("/v1/funding-requests/12345678/submissions", "cnsa_auditor"),
        ("/v1/submissions/0f1e2d3c-0000-4000-8000-000000000000/reviews", "vendor"),
        ("/v1/control-cases/0f1e2d3c-0000-4000-8000-000000000000/outcome", "ars_reviewer"),
    ])
    def test_a_role_that_may_not_post_gets_403_and_the_body_is_not_read(self, api: Api, path: str,
                                                                          role: str) -> None:
        scope = {"vendor": {"galis_refs": ["12345678"]}, "porteur": {"siret": "73282932000074"},
                 "ars_reviewer": {"region_code": "75"}}.get(role, {})
        key = api.key(role, **scope)
        status, body, asked = _raw_post(api.client, path, key, [b'{"not": "a valid body"', b"}"])
        assert status == 403, body
        assert body["code"] == "role_not_allowed"
        assert asked == 0, "the body was read before the caller was refused"

    def test_no_key_gets_401_and_the_body_is_not_read(self, api: Api) -> None:
        status, body, asked = _raw_post(api.client, "/v1/funding-requests", None, [b"{}"])
        assert (status, body["code"], asked) == (401, "unauthenticated", 0)

    def test_a_bad_body_from_a_role_that_may_post_is_still_422(self, api: Api) -> None:
        response = api.client.post("/v1/funding-requests", json={"galis_ref": "1"}, headers=api.auth(api.admin))
        assert response.status_code == 422
        assert {e["field"] for e in response.json()["errors"]} >= {"galis_ref", "siret"}


class TestBodyLimit:
    LIMIT = 2048

    @pytest.fixture
    def small(self, database_url: str) -> Iterator[Api]:
        with TestClient(create_app(make_settings(database_url, max_json_body_bytes=self.LIMIT)),
                        raise_server_exceptions=False) as client:
            yield Api(client)

    @pytest.mark.parametrize("path", ["/v1/funding-requests", "/v1/funding-requests/12345678/events",
                                      "/v1/funding-requests/12345678/submissions",
                                      "/v1/control-cases/0f1e2d3c-0000-4000-8000-000000000000/proof-requests"])
    def test_a_body_declared_larger_than_the_limit_is_413(self, small: Api, path: str) -> None:
        body = b'{"x": "' + b"a" * self.LIMIT + b'"}'
        response = small.client.post(path, content=body, headers={**small.auth(small.admin),
                                                                   "content-type": "application/json"})
        assert response.status_code == 413
        assert response.json()["code"] == "payload_too_large"

    def test_a_body_without_length_is_cut_off_at_the_limit(self, small: Api) -> None:
        status, body, asked = _raw_post(small.client, "/v1/funding-requests", small.admin,
                                        [b'{"x": "', *[b"a" * 1000] * 50, b'"}'])
        assert (status, body["code"]) == (413, "payload_too_large")
        assert asked <= 4, "reading went on past the limit"
        assert small.count("funding_request") == 0

    def test_a_body_within_the_limit_is_served(self, small: Api) -> None:
        payload = factories.funding_request()
        response = small.client.post("/v1/funding-requests", json=payload, headers=small.auth(small.admin))
        assert response.status_code == 201, response.text


@pytest.mark.postgresql
class TestDatabaseOutage:
    @pytest.fixture
    def cluster(self) -> Iterator[PostgresCluster]:
        from alembic import command

        cluster = PostgresCluster(durable=True).start()  # a crash keeps what was committed
        try:
            command.upgrade(alembic_config(cluster.url()), "head")
            yield cluster
        finally:
            cluster.stop()

    def test_writes_and_reads_answer_503_with_retry_after_then_resume(self, cluster: PostgresCluster,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
        # Keys cached: the push reaches the writer, the read its session, during the outage.
        settings = make_settings(cluster.url(), api_key_cache_seconds=300)
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            api = Api(client)
            req = api.create_request()
            body = {"milestone": "va", "rows": rows_for(req)}
            assert api.push(req["galis_ref"], body).json()["version"] == 1
            cluster.halt()
            caplog.clear()
            with caplog.at_level(logging.WARNING):
                pushed = api.push(req["galis_ref"], body)
                read = client.get(f"/v1/funding-requests/{req['galis_ref']}", headers=api.auth(api.admin))
                health = client.get("/healthz")
            for response in (pushed, read, health):
                assert response.status_code == 503, response.text
                assert response.headers["retry-after"] == "5"
                assert response.json()["code"] == "database_unavailable"
            assert caplog.records, "the outage is logged"
            assert all(r.exc_info is None for r in caplog.records), "a traceback was logged for an outage"
            assert all("\n" not in r.getMessage() for r in caplog.records)
            cluster.resume()
            again = api.push(req["galis_ref"], body)
            assert again.status_code == 201, again.text
            assert again.json()["version"] == 2, "the refused push took no version"
