"""Rate limits: per key (or person) by class of route, per address for sign-in; 429
``rate_limited`` with ``Retry-After``, ``RateLimit-Policy`` and ``RateLimit`` (parsed as HTTP
structured fields by ``http_sf``); one caller's excess leaves the others alone; counted across
processes on PostgreSQL; a refused request changes nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import http_sf
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from service.http import limits
from service.kit.rate_limits import DatabaseCounter, Limiter, MemoryCounter, Rate, parse_rate_limits
from service.kit.settings import Settings
from service.main import create_app
from tests.conftest import Api, make_settings

LIMITS = "default=5/min,exports=2/min,sign_in=3/min"


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def limited_client(database_url: str, limits: str = LIMITS, delay: float = 0.0) -> TestClient:
    return TestClient(create_app(make_settings(database_url, rate_limits=limits, rate_limit_delay_seconds=delay)),
                      raise_server_exceptions=False)


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    with limited_client(database_url) as test_client:
        yield test_client


def policy(response: Any) -> tuple[str, dict[str, int]]:
    [(name, params)] = http_sf.parse(response.headers["ratelimit-policy"].encode(), tltype="list")
    return name, params


def standing(response: Any) -> tuple[str, dict[str, int]]:
    [(name, params)] = http_sf.parse(response.headers["ratelimit"].encode(), tltype="list")
    return name, params


# --- the setting and the arithmetic ------------------------------------------------------------------

def test_the_setting_reads_classes_counts_and_periods() -> None:
    assert parse_rate_limits("default=600/min, exports=30/min,sign_in=20/MIN") == {
        "default": Rate(600, 60), "exports": Rate(30, 60), "sign_in": Rate(20, 60)}
    assert parse_rate_limits("bulk=100/5min,daily=10000/day,burst=10/s") == {
        "bulk": Rate(100, 300), "daily": Rate(10000, 86400), "burst": Rate(10, 1)}
    assert parse_rate_limits("off") == {} == parse_rate_limits("")
    for wrong in ("default=600", "default=0/min", "default=10/fortnight", "a=1/s,a=2/s", "x=1/0s"):
        with pytest.raises(ValueError):
            parse_rate_limits(wrong)
    with pytest.raises(ValidationError, match="expected class=count/unit"):
        Settings(rate_limits="default=beaucoup")


#: The PostgreSQL half of the backends only: what its shared counter does.
ON_POSTGRESQL = pytest.mark.parametrize("migrated_db", [pytest.param("postgresql", marks=pytest.mark.postgresql)],
                                        indirect=True)


def test_a_burst_of_the_quota_then_one_request_per_interval_in_memory() -> None:
    a_burst_then_one_request_per_interval(MemoryCounter())


@ON_POSTGRESQL
def test_a_burst_of_the_quota_then_one_request_per_interval_in_postgresql(api: Api) -> None:
    a_burst_then_one_request_per_interval(DatabaseCounter(api.database.engine))


def a_burst_then_one_request_per_interval(counter: Any) -> None:
    clock = Clock()
    limiter = Limiter({"default": Rate(3, 60)}, counter, clock=clock)
    decisions = [limiter.take("default", "key:1") for _ in range(3)]
    assert [(d[2].admitted, d[2].remaining) for d in decisions if d] == [(True, 2), (True, 1), (True, 0)]
    refused = limiter.take("default", "key:1")
    assert refused is not None and not refused[2].admitted
    assert refused[2].retry_after == 20 and refused[2].reset == 60
    assert limiter.take("default", "key:2")[2].admitted  # type: ignore[index]  # another caller
    clock.now += 19.5
    assert not limiter.take("default", "key:1")[2].admitted  # type: ignore[index]
    clock.now += 0.5
    again = limiter.take("default", "key:1")
    assert again is not None and again[2].admitted and again[2].remaining == 0
    clock.now += 60
    assert limiter.take("default", "key:1")[2].remaining == 2  # type: ignore[index]  # the whole quota back
    assert limiter.take("unknown_class", "key:1")[0] == "default"  # type: ignore[index]  # a class without its rate
    assert Limiter({"exports": Rate(1, 60)}, MemoryCounter()).take("other", "key:1") is None


def test_a_refused_caller_is_refused_again_without_asking_the_counter() -> None:
    class Counting(MemoryCounter):
        calls = 0

        def take(self, bucket: str, now: float, interval: float, window: float) -> tuple[bool, float]:
            Counting.calls += 1
            return super().take(bucket, now, interval, window)

    clock = Clock()
    limiter = Limiter({"default": Rate(2, 60)}, Counting(), clock=clock)
    for _ in range(1000):
        limiter.take("default", "key:1")
    assert Counting.calls == 3  # two admitted, one refused: the rest refused from memory
    clock.now += 30
    assert limiter.take("default", "key:1")[2].admitted  # type: ignore[index]
    assert Counting.calls == 4


# --- over HTTP -----------------------------------------------------------------------------------------

def test_every_answer_says_where_its_caller_stands_and_the_excess_is_refused(api: Api) -> None:
    key, other = api.key("ars_reviewer", region_code="75"), api.key("ars_reviewer", region_code="75")
    for left in (4, 3, 2, 1, 0):
        response = api.client.get("/v1/me", headers=api.auth(key))
        assert response.status_code == 200
        assert policy(response) == ("default", {"q": 5, "w": 60})
        assert standing(response)[1]["r"] == left
    refused = api.client.get("/v1/me", headers=api.auth(key))
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    body = refused.json()
    assert body["code"] == "rate_limited" and "« default »" in body["detail"]
    assert "Réessayez dans 12 s" in body["detail"]
    assert refused.headers["retry-after"] == "12"
    assert standing(refused) == ("default", {"r": 0, "t": 60})
    assert refused.headers["x-request-id"]
    # another key of the same organisation and role is not touched
    assert api.client.get("/v1/me", headers=api.auth(other)).status_code == 200
    # the limiter's clock moves past the wait: admitted again
    limiter = api.client.app.state.limiter  # type: ignore[attr-defined]
    limiter.clock = Clock(limiter.clock() + 12.5)
    assert api.client.get("/v1/me", headers=api.auth(key)).status_code == 200


def test_a_refused_request_changes_nothing_and_its_body_is_not_read(api: Api) -> None:
    admin = api.admin
    for _ in range(5):
        assert api.client.get("/v1/me", headers=api.auth(admin)).status_code == 200
    before = api.count("funding_request")
    # a body that would be refused on its own (too large) meets the rate first: the body is never read
    refused = api.client.post("/v1/funding-requests", headers={**api.auth(admin), "Content-Type": "application/json"},
                              content=b"{" + b" " * 10_000_000)
    assert refused.status_code == 429
    assert api.count("funding_request") == before


def test_costly_reads_have_a_class_of_their_own(api: Api) -> None:
    key = api.admin
    for _ in range(5):
        assert api.client.get("/v1/me", headers=api.auth(key)).status_code == 200
    assert api.client.get("/v1/me", headers=api.auth(key)).status_code == 429
    # the default class is spent; the exports class has its own quota
    first = api.client.get("/v1/statistics/reporting?milestone=va", headers=api.auth(key))
    assert first.status_code == 200 and policy(first) == ("exports", {"q": 2, "w": 60})
    assert api.client.get("/v1/exports/follow-up.xlsx", headers=api.auth(key)).status_code == 200
    refused = api.client.get("/v1/statistics/reporting?milestone=va", headers=api.auth(key))
    assert refused.status_code == 429 and standing(refused)[0] == "exports"
    assert int(refused.headers["retry-after"]) == 30


def test_costly_reads_take_their_callers_costly_turn(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    turns: list[str] = []

    async def hold(request: Any) -> None:
        turns.append(request.url.path)

    monkeypatch.setattr(limits, "hold_costly", hold)
    assert api.client.get("/v1/me", headers=api.auth(api.admin)).status_code == 200
    assert api.client.get("/v1/exports/follow-up.xlsx", headers=api.auth(api.admin)).status_code == 200
    assert turns == ["/v1/exports/follow-up.xlsx"]  # FairShare lets a caller run one at a time


def test_bad_keys_count_against_their_address(api: Api) -> None:
    good = api.key("cnsa_auditor")
    bad = {"Authorization": "Bearer esms_cleinconnue"}
    assert [api.client.get("/v1/me", headers=bad).status_code for _ in range(3)] == [401, 401, 401]
    refused = api.client.get("/v1/me", headers=bad)
    assert refused.status_code == 429 and standing(refused)[0] == "sign_in"
    # a good key from the same address is not a failed sign-in
    assert api.client.get("/v1/me", headers=api.auth(good)).status_code == 200


def test_the_console_sign_in_is_counted_per_address(api: Api) -> None:
    api.client.get("/console/connexion")
    statuses = [api.client.post("/console/connexion", data={"api_key": "esms_faux", "csrf_token": "x"}).status_code
                for _ in range(4)]
    assert statuses == [403, 403, 403, 429]
    refused = api.client.post("/console/connexion", data={"api_key": "esms_faux"})
    assert refused.status_code == 429 and "Trop de requêtes" in refused.text
    assert refused.headers["retry-after"]


def test_without_limits_no_header_is_sent(database_url: str) -> None:
    with limited_client(database_url, "off") as client:
        api = Api(client)
        response = client.get("/v1/me", headers=api.auth(api.admin))
        assert response.status_code == 200 and "ratelimit" not in response.headers
        assert client.app.state.limiter is None  # type: ignore[attr-defined]


@ON_POSTGRESQL
def test_processes_count_together_on_postgresql(database_url: str) -> None:
    with limited_client(database_url) as first, limited_client(database_url) as second:
        key = Api(first).key("ars_reviewer", region_code="75")
        auth = Api.auth(key)
        statuses = [client.get("/v1/me", headers=auth).status_code
                    for client in (first, second, first, second, first, second)]
        assert statuses == [200, 200, 200, 200, 200, 429]
        # the first process learns it from the shared count
        assert first.get("/v1/me", headers=auth).status_code == 429


class CountingDatabaseCounter(DatabaseCounter):
    def __init__(self, engine: Any) -> None:
        super().__init__(engine)
        self.calls = 0

    def take(self, bucket: str, now: float, interval: float, window: float) -> tuple[bool, float]:
        self.calls += 1
        return super().take(bucket, now, interval, window)


@ON_POSTGRESQL
def test_processes_take_their_share_in_batches_and_never_admit_beyond_the_quota(api: Api) -> None:
    clock = Clock()
    counters = [CountingDatabaseCounter(api.database.engine) for _ in range(2)]
    processes = [Limiter({"default": Rate(200, 60)}, counter, clock=clock) for counter in counters]  # batches of 10
    admitted = 0
    for n in range(300):  # two processes serving one caller in turn
        taken = processes[n % 2].take("default", "key:1")
        assert taken is not None
        admitted += taken[2].admitted
    assert admitted <= 200 and admitted >= 200 - 2 * 9  # at most what the two hold unspent is lost
    assert sum(c.calls for c in counters) <= 300 // 10 + 10  # one statement per batch, not per request
    clock.now += 61  # a window later, the whole quota is back
    assert processes[0].take("default", "key:1")[2].admitted  # type: ignore[index]


def test_a_refusal_is_sent_after_a_delay(database_url: str) -> None:
    with limited_client(database_url, "default=1/min", delay=0.4) as client:
        api = Api(client)
        flooder, other = api.key("cnsa_auditor"), api.key("cnsa_auditor")
        assert client.get("/v1/me", headers=api.auth(flooder)).status_code == 200
        began = time.monotonic()
        refused = client.get("/v1/me", headers=api.auth(flooder))
        assert refused.status_code == 429 and time.monotonic() - began >= 0.4
        assert refused.headers["retry-after"] == "60"
        answered = client.get("/v1/me", headers=api.auth(other))  # another key: admitted, no delay to wait
        assert answered.status_code == 200 and standing(answered)[1]["r"] == 0
