"""Webhooks end to end: a real receiver on loopback, signatures checked with the Standard
Webhooks reference package (``standardwebhooks``), retries, 410, scope, the outbox."""

from __future__ import annotations

import ipaddress
import json
import os
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from standardwebhooks import Webhook
from time_machine import TimeMachineFixture

from service.main import create_app
from service.models import utcnow
from tests import factories, proof_files
from tests.conftest import Api, make_settings, rows_for
from tests.webhooks.receiver import Receiver


def subscribe(api: Api, key: str, url: str, events: list[str], **extra: Any) -> dict[str, Any]:
    response = api.client.post("/v1/webhooks", json={"url": url, "events": events, **extra}, headers=api.auth(key))
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def porteur_listening(api: Api, receiver: Receiver) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """A request, its porteur's key and that key's subscription to ``submission.stored``."""
    req = api.create_request()
    porteur = api.key("porteur", siret=req["siret"])
    return req, porteur, subscribe(api, porteur, receiver.url(), ["submission.stored"])


def deliver(api: Api) -> int:
    return api.client.app.state.deliverer.run_once()  # type: ignore[attr-defined, no-any-return]


def verified(secret: str, received: Any) -> dict[str, Any]:
    """The body, once the reference implementation has checked its signature."""
    return Webhook(secret).verify(received.body, received.headers)  # type: ignore[no-any-return]


def deliveries(api: Api, key: str, sub_id: str, **params: Any) -> list[dict[str, Any]]:
    response = api.client.get(f"/v1/webhooks/{sub_id}/deliveries", params=params, headers=api.auth(key))
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


def test_a_vendor_receives_signed_events_for_its_mandates_only(api: Api, receiver: Receiver) -> None:
    mine, theirs = api.create_request(), api.create_request()
    vendor = api.key("vendor", galis_refs=[mine["galis_ref"]])
    other = api.key("vendor", galis_refs=[theirs["galis_ref"]])
    events = ["submission.stored", "review.decided"]
    sub = subscribe(api, vendor, receiver.url("/mine"), events, description="DUI A")
    assert sub["status"] == "active" and sub["secret"].startswith("whsec_")
    other_sub = subscribe(api, other, receiver.url("/theirs"), events)

    stored = api.push(mine["galis_ref"], {"milestone": "va", "rows": rows_for(mine)}, key=vendor).json()
    ars = api.key("ars_reviewer", region_code="75")
    decided = api.client.post(f"/v1/submissions/{stored['id']}/reviews", json={"decision": "accepted"},
                              headers=api.auth(ars))
    assert decided.status_code == 201, decided.text
    assert deliver(api) == 2

    got = receiver.at("/mine")
    bodies = sorted((verified(sub["secret"], r) for r in got), key=lambda b: b["timestamp"])  # sent in parallel
    assert [b["type"] for b in bodies] == ["submission.stored", "review.decided"]
    assert bodies[0]["data"] == {"galis_ref": mine["galis_ref"], "submission_id": stored["id"], "milestone": "va",
                                 "version": 1, "targets_met": stored["targets_met"], "warning_count": 0}
    assert bodies[1]["data"]["decision"] == "accepted" and bodies[1]["data"]["submission_id"] == stored["id"]
    assert all(r.headers["webhook-id"].startswith("msg_") for r in got)
    assert receiver.at("/theirs") == []  # the other vendor's key may not see that request
    assert deliveries(api, other, other_sub["id"]) == []

    log = deliveries(api, vendor, sub["id"])
    assert [d["event"] for d in log] == ["review.decided", "submission.stored"]  # newest first
    assert all(d["status"] == "delivered" and d["attempts"][0]["status_code"] == 204 for d in log)
    # another key's secret does not verify the signature
    with pytest.raises(Exception, match="signature"):
        verified(other_sub["secret"], got[0])
    assert deliver(api) == 0  # nothing is sent twice once delivered


def test_a_failed_delivery_is_retried_with_the_same_webhook_id(database_url: str, receiver: Receiver) -> None:
    settings = make_settings(database_url, webhooks_retry_schedule="0,0")
    with TestClient(create_app(settings)) as client:
        api = Api(client)
        req, porteur, sub = porteur_listening(api, receiver)
        receiver.script["/hook"] = [500, 503, 500]
        api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)}, key=porteur)
        assert deliver(api) == 1
        assert deliver(api) == 1
        [waiting] = deliveries(api, porteur, sub["id"])
        assert waiting["status"] == "pending" and waiting["attempt_count"] == 2
        assert [a["status_code"] for a in waiting["attempts"]] == [500, 503]
        assert waiting["attempts"][0]["error"] == "réponse 500"
        assert deliver(api) == 1  # the schedule is spent: given up
        [failed] = deliveries(api, porteur, sub["id"], status="failed")
        assert failed["next_attempt_at"] is None and failed["attempt_count"] == 3
        ids = {r.headers["webhook-id"] for r in receiver.received}
        assert ids == {failed["id"]} and len(receiver.received) == 3
        bodies = {r.body for r in receiver.received}
        assert len(bodies) == 1  # the same bytes each time, each attempt signed again
        for r in receiver.received:
            verified(sub["secret"], r)

        retried = client.post(f"/v1/webhooks/{sub['id']}/deliveries/{failed['id']}/retry", headers=api.auth(porteur))
        assert retried.status_code == 200 and retried.json()["status"] == "pending"
        assert deliver(api) == 1
        [done] = deliveries(api, porteur, sub["id"])
        assert done["status"] == "delivered" and done["attempt_count"] == 4
        assert receiver.received[-1].headers["webhook-id"] == failed["id"]


def test_the_default_schedule_waits_before_a_new_attempt(api: Api, receiver: Receiver) -> None:
    req, porteur, sub = porteur_listening(api, receiver)
    receiver.default_status = 500
    api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)}, key=porteur)
    assert deliver(api) == 1
    assert deliver(api) == 0  # 5 s later, not now
    [waiting] = deliveries(api, porteur, sub["id"])
    first = waiting["attempts"][0]["attempted_at"]
    assert waiting["next_attempt_at"] > first
    from datetime import datetime
    gap = datetime.fromisoformat(waiting["next_attempt_at"]) - datetime.fromisoformat(first)
    assert gap == timedelta(seconds=5)


def test_a_410_disables_the_subscription(api: Api, receiver: Receiver) -> None:
    req, porteur, sub = porteur_listening(api, receiver)
    receiver.script["/hook"] = [410, 410]
    for n in (1, 2):
        assert api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req, dmp_fed=n)},
                        key=porteur).status_code == 201
    assert deliver(api) >= 1
    [listed] = api.client.get("/v1/webhooks", headers=api.auth(porteur)).json()["items"]
    assert listed["status"] == "disabled" and "410" in listed["disabled_reason"]
    assert {d["status"] for d in deliveries(api, porteur, sub["id"])} == {"cancelled"}
    received = len(receiver.received)
    assert api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req, dmp_fed=4)},
                    key=porteur).status_code == 201
    assert deliver(api) == 0 and len(receiver.received) == received
    gone = deliveries(api, porteur, sub["id"])[0]
    refused = api.client.post(f"/v1/webhooks/{sub['id']}/deliveries/{gone['id']}/retry", headers=api.auth(porteur))
    assert refused.status_code == 409 and refused.json()["code"] == "webhook_disabled"
    audit = api.client.get("/v1/audit-events", params={"object_type": "webhook_subscription"},
                           headers=api.auth(api.admin)).json()["items"]
    assert {e["action"] for e in audit} >= {"webhook_subscribed", "webhook_disabled"}


def test_a_redirect_is_not_followed(api: Api, receiver: Receiver) -> None:
    req, porteur, sub = porteur_listening(api, receiver)
    receiver.script["/hook"] = [307]
    api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)}, key=porteur)
    deliver(api)
    assert receiver.at("/redirected") == []
    [d] = deliveries(api, porteur, sub["id"])
    assert d["status"] == "pending" and "redirection non suivie" in d["attempts"][0]["error"]


def test_every_event_type_reaches_a_national_subscriber(api: Api, receiver: Receiver) -> None:
    from service.webhooks.messages import EVENT_TYPES

    cnsa = api.key("cnsa_auditor")
    sub = subscribe(api, cnsa, receiver.url(), list(EVENT_TYPES))
    today = utcnow().date()
    req = api.create_request(va_on=None)
    ref = req["galis_ref"]
    api.event(ref, "va_validated", (today - timedelta(days=60)).isoformat())
    api.event(ref, "vsr_validated", (today - timedelta(days=30)).isoformat())
    api.event(ref, "deadline_extended", today.isoformat(), until=(today + timedelta(days=120)).isoformat())
    porteur = api.key("porteur", siret=req["siret"])
    stored = api.push(ref, {"milestone": "fin_projet", "rows": rows_for(req)}, key=porteur).json()
    finess = req["establishments"][0]["finess"]
    case = next(c for c in api.client.get("/v1/control-queue", headers=api.auth(cnsa)).json()["items"]
                if c["submission_id"] == stored["id"])
    asked = api.client.post(f"/v1/control-cases/{case['id']}/proof-requests", headers=api.auth(cnsa),
                            json={"finess": finess, "message": "Le rapport signé, merci."}).json()
    with api.database.engine.begin() as conn:  # 48 hours have passed
        conn.execute(sa.text("UPDATE proof_request SET due_at = :t WHERE id = :id"),
                     {"t": utcnow() - timedelta(minutes=1), "id": asked["id"]})
    deliver(api)
    assert api.upload_proof(stored["id"], proof_files.pdf(), key=porteur, finess=finess).status_code == 201
    ars = api.key("ars_reviewer", region_code="75")
    assert api.client.post(f"/v1/submissions/{stored['id']}/reviews", headers=api.auth(ars), json={
        "decision": "changes_requested", "comment": "Précisez la période."}).status_code == 201
    editeur = api.client.post("/v1/organisations", headers=api.auth(api.admin), json={
        "kind": "editeur", "name": "Éditeur DUI", "siret": factories.siret()}).json()
    mandate = api.client.post(f"/v1/funding-requests/{ref}/mandates", headers=api.auth(api.admin),
                              json={"editeur_id": editeur["id"]}).json()
    assert api.client.delete(f"/v1/mandates/{mandate['id']}", headers=api.auth(api.admin)).status_code == 200
    api.event(ref, "balance_paid", today.isoformat())
    deliver(api)
    bodies = sorted((verified(sub["secret"], r) for r in receiver.received), key=lambda b: b["timestamp"])
    types = [b["type"] for b in bodies]
    assert sorted(types) == sorted([*EVENT_TYPES, "milestone.opened"])  # two milestones; overdue once only
    by_type = {b["type"]: b["data"] for b in bodies}
    assert by_type["milestone.opened"]["milestone"] in ("va", "fin_projet")
    assert [b["data"]["milestone"] for b in bodies if b["type"] == "milestone.opened"] == ["va", "fin_projet"]
    assert by_type["deadline.extended"]["due_on"] == (today + timedelta(days=120)).isoformat()
    assert by_type["proof_request.opened"]["proof_request_id"] == asked["id"]
    assert by_type["proof_request.overdue"]["finess"] == finess
    assert by_type["proof.stored"]["finess"] == finess
    assert by_type["request.closed"] == {"galis_ref": ref, "closed_on": today.isoformat()}
    assert by_type["mandate.granted"]["editeur_id"] == by_type["mandate.revoked"]["editeur_id"] == editeur["id"]
    deliver(api)
    assert len(receiver.received) == len(EVENT_TYPES) + 1


def test_scope_follows_the_keys(api: Api, receiver: Receiver) -> None:
    paris = api.create_request()  # région 75 by default (factories)
    elsewhere = api.create_request(establishments=[{"finess": factories.finess("13"), "name": "EHPAD Sud",
                                                    "category": "500"}])
    ars = api.key("ars_reviewer", region_code="75")
    porteur = api.key("porteur", siret=paris["siret"])
    subs = {name: subscribe(api, key, receiver.url(f"/{name}"), ["submission.stored"])
            for name, key in (("ars", ars), ("porteur", porteur))}
    for req in (paris, elsewhere):
        assert api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)}).status_code == 201
    deliver(api)
    for name, sub in subs.items():
        [got] = receiver.at(f"/{name}")
        assert verified(sub["secret"], got)["data"]["galis_ref"] == paris["galis_ref"]


def test_a_refused_change_announces_nothing(api: Api, receiver: Receiver) -> None:
    req = api.create_request()
    porteur = api.key("porteur", siret=req["siret"])
    subscribe(api, porteur, receiver.url(), ["submission.stored"])
    refused = api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req, active_dui=-1)}, key=porteur)
    assert refused.status_code == 422
    dry = api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)}, key=porteur, dry_run="true")
    assert dry.status_code == 200
    assert api.count("webhook_delivery") == 0 and deliver(api) == 0


@pytest.mark.parametrize("url", [
    "https://10.0.0.7/hook", "https://192.168.1.20/hook", "https://172.16.0.1/hook", "https://169.254.169.254/latest",
    "https://[fe80::1]/hook", "https://[fd00::1]/hook", "https://100.64.0.1/hook", "https://0.0.0.0/hook",
    "https://example.org/hook",  # a public name: this instance calls loopback only, and does not even resolve it
])
def test_private_and_outside_targets_are_refused(api: Api, url: str) -> None:
    key = api.key("cnsa_auditor")
    response = api.client.post("/v1/webhooks", json={"url": url, "events": ["review.decided"]}, headers=api.auth(key))
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "webhook_url_forbidden"
    assert response.json()["errors"][0]["field"] == "url"
    assert api.count("webhook_subscription") == 0


@pytest.mark.parametrize(("url", "code"), [
    ("ftp://127.0.0.1/hook", "webhook_url_invalid"),
    ("https://user:secret@127.0.0.1/hook", "webhook_url_invalid"),
    ("https:///nohost", "webhook_url_invalid"),
    ("https://127.0.0.1:99999/hook", "webhook_url_invalid"),
    ("https://127.0.0.1/hook#frag", "webhook_url_invalid"),
])
def test_malformed_urls_are_refused(api: Api, url: str, code: str) -> None:
    response = api.client.post("/v1/webhooks", json={"url": url, "events": ["review.decided"]},
                               headers=api.auth(api.admin))
    assert response.status_code == 422 and response.json()["code"] == code, response.text


@pytest.mark.parametrize(("address", "allowed"), [
    ("2002:c0a8:101::1", False),  # 6to4 of 192.168.1.1
    ("2002:7f00:1::1", False),  # 6to4 of 127.0.0.1
    ("2002:808:808::1", True),  # 6to4 of 8.8.8.8, a public address
    ("64:ff9b::a00:1", False),  # NAT64 of 10.0.0.1
    ("64:ff9b::a9fe:a9fe", False),  # NAT64 of 169.254.169.254, the cloud metadata address
    ("64:ff9b::808:808", True),  # NAT64 of 8.8.8.8
    ("64:ff9b:1::a00:1", False),  # local-use NAT64
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False),  # Teredo
    ("::a00:1", False),  # IPv4-compatible, obsolete
    ("::ffff:a00:1", False),  # IPv4-mapped 10.0.0.1
    ("2606:4700:4700::1111", True),  # a public IPv6 address
])
def test_ipv6_addresses_that_carry_an_ipv4_one_are_judged_by_it(address: str, allowed: bool) -> None:
    from service.webhooks.addresses import TargetPolicy

    assert (TargetPolicy().refusal(ipaddress.ip_address(address)) is None) is allowed


def test_loopback_is_refused_unless_allowed(database_url: str) -> None:
    settings = make_settings(database_url, webhooks_loopback_only=False, webhooks_allow_loopback=False)
    with TestClient(create_app(settings)) as client:
        api = Api(client)
        for url in ("https://127.0.0.1/hook", "https://[::1]/hook", "https://[::ffff:127.0.0.1]/hook",
                    "https://localhost/hook", "http://203.0.113.9/hook", "https://[2002:7f00:1::1]/hook",
                    "https://[64:ff9b::7f00:1]/hook"):
            response = client.post("/v1/webhooks", json={"url": url, "events": ["review.decided"]},
                                   headers=api.auth(api.admin))
            assert response.status_code == 422, url
            assert response.json()["code"] in ("webhook_url_forbidden", "webhook_url_invalid"), url


def test_each_delivery_checks_the_address_again(database_url: str, receiver: Receiver) -> None:
    """A receiver registered while loopback was allowed is not called once it is not."""
    with TestClient(create_app(make_settings(database_url))) as client:
        api = Api(client)
        req, porteur, sub = porteur_listening(api, receiver)
        api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)}, key=porteur)
    strict = make_settings(database_url, webhooks_loopback_only=False, webhooks_allow_loopback=False)
    with TestClient(create_app(strict)) as client:
        api = Api(client)
        assert deliver(api) == 1
        [d] = deliveries(api, porteur, sub["id"])
    assert receiver.received == []
    assert d["status"] == "pending" and "https://" in d["attempts"][0]["error"]
    assert d["attempts"][0]["status_code"] is None
    # the host is resolved at the attempt: a name that designates loopback is refused too
    from service.kit.db import Database
    from service.webhooks.deliverer import Deliverer, Due
    database = Database(strict)
    try:
        outcome = Deliverer(database, strict).attempt(Due("msg_" + "0" * 32, sub["id"],
                                                          f"https://localhost:{receiver.server.server_address[1]}/",
                                                          sub["secret"], "{}"))
    finally:
        database.close()
    assert outcome.status_code is None and "bouclage" in (outcome.error or "")
    assert receiver.received == []


def test_subscriptions_belong_to_their_key(api: Api, receiver: Receiver) -> None:
    owner, stranger = api.key("cnsa_auditor"), api.key("cnsa_auditor")
    sub = subscribe(api, owner, receiver.url(), ["review.decided"])
    assert "secret" not in api.client.get("/v1/webhooks", headers=api.auth(owner)).json()["items"][0]
    assert api.client.get("/v1/webhooks", headers=api.auth(stranger)).json()["items"] == []
    for call in (lambda h: api.client.get(f"/v1/webhooks/{sub['id']}/deliveries", headers=h),
                 lambda h: api.client.delete(f"/v1/webhooks/{sub['id']}", headers=h)):
        for headers in (api.auth(stranger), api.auth(api.admin)):
            response = call(headers)
            assert response.status_code == 404 and response.json()["code"] == "webhook_not_found"
    assert api.client.delete(f"/v1/webhooks/{sub['id']}", headers=api.auth(owner)).status_code == 204
    assert api.client.get("/v1/webhooks", headers=api.auth(owner)).json()["items"] == []
    assert api.client.delete(f"/v1/webhooks/{sub['id']}", headers=api.auth(owner)).status_code == 404


def test_a_revoked_key_receives_nothing_more(api: Api, receiver: Receiver) -> None:
    req = api.create_request()
    porteur_key = api.key("porteur", siret=req["siret"])
    sub = subscribe(api, porteur_key, receiver.url(), ["submission.stored"])
    api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)})
    prefix = porteur_key[:12]
    assert api.client.post(f"/v1/api-keys/{prefix}/revoke", headers=api.auth(api.admin)).status_code == 200
    assert deliver(api) == 0
    assert receiver.received == []
    with api.database.engine.connect() as conn:
        status = conn.execute(sa.text("SELECT status, disabled_reason FROM webhook_subscription WHERE id = :id"),
                              {"id": sub["id"]}).one()
    assert status.status == "disabled" and "révoquée" in status.disabled_reason


def test_the_subscription_limit_and_the_events_are_checked(database_url: str, receiver: Receiver) -> None:
    with TestClient(create_app(make_settings(database_url, webhooks_max_per_key=2))) as client:
        api = Api(client)
        key = api.key("cnsa_auditor")
        unknown = client.post("/v1/webhooks", json={"url": receiver.url(), "events": ["submission.deleted"]},
                              headers=api.auth(key))
        assert unknown.status_code == 422 and unknown.json()["errors"][0]["field"] == "events"
        empty = client.post("/v1/webhooks", json={"url": receiver.url(), "events": []}, headers=api.auth(key))
        assert empty.status_code == 422
        first = subscribe(api, key, receiver.url(), ["review.decided", "review.decided", "submission.stored"])
        assert first["events"] == ["submission.stored", "review.decided"]
        subscribe(api, key, receiver.url(), ["review.decided"])
        third = client.post("/v1/webhooks", json={"url": receiver.url(), "events": ["review.decided"]},
                            headers=api.auth(key))
        assert third.status_code == 409 and third.json()["code"] == "webhook_limit_reached"


def test_the_delivery_log_is_paged(api: Api, receiver: Receiver) -> None:
    req, porteur, sub = porteur_listening(api, receiver)
    for n in range(5):
        assert api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req, dmp_fed=n + 1)},
                        key=porteur).status_code == 201
    deliver(api)
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = api.client.get(f"/v1/webhooks/{sub['id']}/deliveries", params=params, headers=api.auth(porteur)).json()
        seen += [d["id"] for d in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5
    versions = [json.loads(r.body)["data"]["version"] for r in receiver.received]
    assert sorted(versions) == [1, 2, 3, 4, 5]


def test_the_background_deliverer_sends_without_being_asked(database_url: str, receiver: Receiver) -> None:
    settings = make_settings(database_url, webhooks_deliverer="thread", webhooks_poll_ms=20)
    with TestClient(create_app(settings)) as client:
        api = Api(client)
        req, porteur, sub = porteur_listening(api, receiver)
        api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)}, key=porteur)
        [got] = receiver.wait_for(1)
        assert verified(sub["secret"], got)["type"] == "submission.stored"
        deadline = utcnow() + timedelta(seconds=10)
        while deliveries(api, porteur, sub["id"])[0]["status"] != "delivered":
            assert utcnow() < deadline
    from sqlmodel import Session, select

    from service.models import WebhookLease
    engine = sa.create_engine(database_url)
    with Session(engine) as session:  # stopping released the lease
        assert session.exec(select(WebhookLease.expires_at)).one() < utcnow()
    engine.dispose()


def test_one_deliverer_is_active_at_a_time(database_url: str, time_machine: TimeMachineFixture) -> None:
    from service.kit.db import Database
    from service.webhooks.deliverer import Deliverer

    settings = make_settings(database_url, webhooks_lease_s=30.0)
    first_db, second_db = Database(settings), Database(settings)
    first, second = Deliverer(first_db, settings, holder="un"), Deliverer(second_db, settings, holder="deux")
    time_machine.move_to(utcnow(), tick=True)  # the lease's times are the wall clock's: moved on below
    try:
        assert first.hold_lease(force=True) and not second.hold_lease(force=True)
        assert first.hold_lease(force=True)  # renewed by its holder
        first._lease_until = 0.0  # as if it had died: its lease runs out
        time_machine.shift(timedelta(seconds=settings.webhooks_lease_s - 5))
        assert not second.hold_lease(force=True)  # not yet
        time_machine.shift(timedelta(seconds=6))
        assert second.hold_lease(force=True) and not first.hold_lease(force=True)
        second.stop()  # a stop releases at once
        assert first.hold_lease(force=True)
    finally:
        first.stop()
        first_db.close()
        second_db.close()


def test_the_default_deliverer_is_a_child_process(tmp_path: Any, receiver: Receiver) -> None:
    """The application starts ``webhooks deliver`` as its child with its own settings, and stops it."""
    from alembic import command

    from tests.conftest import alembic_config

    url = f"sqlite:///{tmp_path / 'child.sqlite3'}"  # a file of its own: the child reads the same settings
    command.upgrade(alembic_config(url), "head")
    settings = make_settings(url, webhooks_deliverer="process", webhooks_poll_ms=20)
    with TestClient(create_app(settings)) as client:
        api = Api(client)
        req, porteur, sub = porteur_listening(api, receiver)
        api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)}, key=porteur)
        [got] = receiver.wait_for(1, timeout=30)
        assert verified(sub["secret"], got)["data"]["galis_ref"] == req["galis_ref"]
        child = client.app.state.deliverer_process  # type: ignore[attr-defined]
        pid = child.pid
        assert pid is not None and pid != os.getpid()
    assert child.pid is None  # stopped with the application
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_deliverer_whose_parent_is_gone_stops(database_url: str) -> None:
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT

    env = {**os.environ, "SERVICE_DATABASE_URL": database_url, "SERVICE_WEBHOOKS_LOOPBACK_ONLY": "true"}
    child = subprocess.Popen([sys.executable, "-c", (
        "import subprocess, sys; p = subprocess.Popen([sys.executable, '-m', 'service', 'webhooks', 'deliver', "
        "'--parent', str(__import__('os').getpid())], stdout=subprocess.DEVNULL); print(p.pid, flush=True); "
        "import time; time.sleep(2)")], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    grandchild = int(child.stdout.readline())  # type: ignore[union-attr]
    child.communicate(timeout=30)  # its parent exits: the deliverer follows within a second or two
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:  # gone, or a zombie nobody reaps (its new parent may not wait for it)
            if "State:\tZ" in Path(f"/proc/{grandchild}/status").read_text():
                break
        except FileNotFoundError:
            break
        time.sleep(0.1)
    else:
        raise AssertionError("the deliverer outlived its parent")
