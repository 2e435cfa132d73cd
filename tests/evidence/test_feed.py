"""The auditors' feed: exactly the versions received, reviewed or given a proof since a time,
oldest change first, in the caller's scope, page after page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from time_machine import TimeMachineFixture

from service.main import create_app
from tests import factories, proof_files
from tests.conftest import Api, make_settings, rows_for


@pytest.fixture
def clock(time_machine: TimeMachineFixture) -> TimeMachineFixture:
    """The wall clock, ticking from the real time, that ``now`` moves on."""
    time_machine.move_to(datetime.now(UTC), tick=True)
    return time_machine


def now(clock: TimeMachineFixture) -> str:
    """A moment apart from every time stored before it and after it: the clock moves on a second either side."""
    clock.shift(timedelta(seconds=1))
    moment = datetime.now(UTC).isoformat()
    clock.shift(timedelta(seconds=1))
    return moment


def feed(api: Api, key: str, **params: Any) -> Any:
    response = api.client.get("/v1/submissions", params=params, headers=api.auth(key))
    assert response.status_code == 200, response.text
    return response.json()


def ids(page: Any) -> list[str]:
    return [item["id"] for item in page["items"]]


def test_the_feed_gives_exactly_the_versions_changed_since_then_in_scope(clock: TimeMachineFixture, api: Api) -> None:
    aquitaine = api.create_request(establishments=[{"finess": factories.finess("33"), "name": "EHPAD A"}])
    corse = api.create_request(establishments=[{"finess": factories.finess("2A"), "name": "EHPAD B"}])
    cnsa, ars_75, ars_94 = (api.key("cnsa_auditor"), api.key("ars_reviewer", region_code="75"),
                            api.key("ars_reviewer", region_code="94"))
    a1 = api.push(aquitaine["galis_ref"], {"milestone": "va", "rows": rows_for(aquitaine)}).json()
    b1 = api.push(corse["galis_ref"], {"milestone": "va", "rows": rows_for(corse)}).json()
    since = now(clock)
    a2 = api.push(aquitaine["galis_ref"], {"milestone": "va", "rows": rows_for(aquitaine, dmp_fed=41)}).json()
    reviewed = api.client.post(f"/v1/submissions/{b1['id']}/reviews", json={"decision": "accepted"},
                               headers=api.auth(ars_94))
    assert reviewed.status_code == 201, reviewed.text

    national = feed(api, cnsa, updated_since=since)
    assert ids(national) == [a2["id"], b1["id"]]  # oldest change first; a1 did not change
    assert national["items"][1]["review"] == "accepted" and national["items"][0]["review"] is None
    assert national["items"][1]["changed_at"] > national["items"][1]["received_at"]
    assert national["as_of"] >= national["items"][-1]["changed_at"]
    assert ids(feed(api, ars_75, updated_since=since)) == [a2["id"]]
    assert ids(feed(api, ars_94, updated_since=since)) == [b1["id"]]
    assert ids(feed(api, cnsa, updated_since=since, region="94")) == [b1["id"]]
    assert ids(feed(api, cnsa)) == [a1["id"], a2["id"], b1["id"]]  # from the start: everything, by change

    first = feed(api, cnsa, updated_since=since, limit=1)
    second = feed(api, cnsa, updated_since=since, limit=1, cursor=first["next_cursor"])
    assert ids(first) + ids(second) == [a2["id"], b1["id"]] and second["next_cursor"] is None

    # a version that changes again comes back further down the feed
    uploaded = api.upload_proof(a2["id"], proof_files.pdf(), finess=aquitaine["establishments"][0]["finess"])
    assert uploaded.status_code == 201, uploaded.text
    assert ids(feed(api, cnsa, updated_since=since)) == [b1["id"], a2["id"]]


def test_a_proof_moves_every_version_it_covers(clock: TimeMachineFixture, api: Api) -> None:
    req = api.create_request(establishments=[{"finess": factories.finess("33"), "name": "EHPAD A"}])
    cnsa = api.key("cnsa_auditor")
    v1 = api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)}).json()
    v2 = api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)}).json()  # the same figures
    v3 = api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req, dmp_fed=41)}).json()
    since = now(clock)
    uploaded = api.upload_proof(v1["id"], proof_files.pdf(), finess=req["establishments"][0]["finess"])
    assert uploaded.status_code == 201, uploaded.text
    assert sorted(ids(feed(api, cnsa, updated_since=since))) == sorted([v1["id"], v2["id"]])
    assert v3["id"] not in ids(feed(api, cnsa, updated_since=since))  # other figures: not covered


def test_the_feed_is_refused_to_porteurs_and_vendors_and_wants_a_zone(api: Api) -> None:
    req = api.create_request()
    for key in (api.key("porteur", siret=req["siret"]), api.key("vendor", galis_refs=[req["galis_ref"]])):
        refused = api.client.get("/v1/submissions", headers=api.auth(key))
        assert refused.status_code == 403 and refused.json()["code"] == "role_not_allowed"
    naive = api.client.get("/v1/submissions", params={"updated_since": "2026-12-01T08:00:00"},
                           headers=api.auth(api.admin))
    assert naive.status_code == 422 and naive.json()["errors"][0]["code"] == "updated_since_without_zone"
    extreme = api.client.get("/v1/submissions", params={"updated_since": "0001-01-01T00:00:00+14:00"},
                             headers=api.auth(api.admin))
    assert extreme.status_code == 422
    unknown = api.client.get("/v1/submissions", params={"region": "99"}, headers=api.auth(api.admin))
    assert unknown.status_code == 422


def test_the_feed_holds_back_changes_still_settling(database_url: str) -> None:
    with TestClient(create_app(make_settings(database_url, feed_settle_seconds=60.0))) as client:
        api = Api(client)
        req = api.create_request()
        assert api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)}).status_code == 201
        page = feed(api, api.admin)
        assert page["items"] == []
        assert (datetime.now(UTC) - datetime.fromisoformat(page["as_of"])).total_seconds() >= 59
