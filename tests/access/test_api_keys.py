"""Key lifecycle: listing, revocation, expiry and last use; every change audited."""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from service.access.keys import PrincipalCache
from service.main import create_app
from tests.conftest import Api, make_settings


def today() -> date:
    return datetime.now(ZoneInfo("Europe/Paris")).date()


class Clock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds

    def advance(self, seconds: float) -> None:
        self.seconds += seconds


def prefix_of(key: str) -> str:
    return key[:12]


class TestListApiKeys:
    def test_an_admin_lists_every_key_without_its_secret(self, api: Api) -> None:
        vendor = api.key("vendor", galis_refs=["12345678"], label="Éditeur X")
        response = api.client.get("/v1/api-keys", headers=api.auth(api.admin))
        assert response.status_code == 200
        items = {item["prefix"]: item for item in response.json()["items"]}
        assert set(items) == {prefix_of(api.admin), prefix_of(vendor)}
        listed = items[prefix_of(vendor)]
        assert listed["role"] == "vendor" and listed["label"] == "Éditeur X" and listed["manager"] is False
        assert listed["organisation"]["kind"] == "editeur" and listed["organisation"]["name"] == "Éditeur X"
        assert listed["status"] == "active" and listed["revoked_at"] is None and listed["expires_on"] is None
        assert vendor not in response.text and vendor[12:] not in response.text

    def test_the_listing_is_paged(self, api: Api) -> None:
        for n in range(4):
            api.key("cnsa_auditor", label=f"auditeur {n}")
        first = api.client.get("/v1/api-keys", params={"limit": 3}, headers=api.auth(api.admin)).json()
        second = api.client.get("/v1/api-keys", params={"limit": 3, "cursor": first["next_cursor"]},
                                headers=api.auth(api.admin)).json()
        assert len(first["items"]) == 3 and len(second["items"]) == 2 and second["next_cursor"] is None
        assert not {i["prefix"] for i in first["items"]} & {i["prefix"] for i in second["items"]}

    @pytest.mark.parametrize("role", ["ars_reviewer", "cnsa_auditor", "porteur", "vendor"])
    def test_only_an_admin_lists_every_key_and_another_organisations_key_is_not_found(self, api: Api,
                                                                                      role: str) -> None:
        scope = {"ars_reviewer": {"region_code": "75"}, "porteur": {"siret": "73282932000074"},
                 "vendor": {"galis_refs": ["12345678"]}}.get(role, {})
        key = api.key(role, manager=True, **scope)
        listed = api.client.get("/v1/api-keys", headers=api.auth(key))
        revoked = api.client.post(f"/v1/api-keys/{prefix_of(api.admin)}/revoke", headers=api.auth(key))
        assert (listed.status_code, revoked.status_code) == (403, 404)
        assert revoked.json()["code"] == "api_key_not_found"
        assert api.client.get("/v1/funding-requests", headers=api.auth(api.admin)).status_code == 200


class TestRevokeApiKey:
    def test_a_revoked_key_is_refused_with_its_own_code_and_the_change_is_audited(self, api: Api) -> None:
        vendor = api.key("vendor", galis_refs=["12345678"])
        assert api.client.get("/v1/funding-requests", headers=api.auth(vendor)).status_code == 200
        response = api.client.post(f"/v1/api-keys/{prefix_of(vendor)}/revoke", headers=api.auth(api.admin))
        assert response.status_code == 200
        assert response.json()["status"] == "revoked" and response.json()["revoked_at"]
        refused = api.client.get("/v1/funding-requests", headers=api.auth(vendor))
        assert refused.status_code == 401
        assert refused.json()["code"] == "api_key_revoked"
        assert refused.headers["www-authenticate"].startswith("Bearer")
        events = api.client.get("/v1/audit-events", headers=api.auth(api.admin)).json()["items"]
        revoked = [e for e in events if e["action"] == "api_key_revoked"]
        assert len(revoked) == 1 and revoked[0]["payload"]["prefix"] == prefix_of(vendor)
        assert revoked[0]["actor"]["role"] == "admin"

    def test_revoking_twice_or_an_unknown_prefix_changes_nothing(self, api: Api) -> None:
        vendor = api.key("vendor", galis_refs=["12345678"])
        assert api.client.post(f"/v1/api-keys/{prefix_of(vendor)}/revoke", headers=api.auth(api.admin)).is_success
        events = api.count("audit_event")
        again = api.client.post(f"/v1/api-keys/{prefix_of(vendor)}/revoke", headers=api.auth(api.admin))
        unknown = api.client.post("/v1/api-keys/esms_0000000/revoke", headers=api.auth(api.admin))
        malformed = api.client.post("/v1/api-keys/not-a-prefix/revoke", headers=api.auth(api.admin))
        assert (again.status_code, again.json()["code"]) == (409, "api_key_already_revoked")
        assert (unknown.status_code, unknown.json()["code"]) == (404, "api_key_not_found")
        assert malformed.status_code == 422
        assert api.count("audit_event") == events

    def test_a_revocation_reaches_a_process_that_cached_the_key_within_the_cache_lifetime(
            self, api: Api, database_url: str) -> None:
        vendor = api.key("vendor", galis_refs=["12345678"])
        ttl, clock = 30.0, Clock()
        app = create_app(make_settings(database_url, api_key_cache_seconds=ttl))
        app.state.principal_cache = PrincipalCache(ttl, clock=clock)  # the one the application starts with
        with TestClient(app, raise_server_exceptions=False) as other:
            assert other.get("/v1/funding-requests", headers=api.auth(vendor)).status_code == 200  # now cached
            assert api.client.post(f"/v1/api-keys/{prefix_of(vendor)}/revoke",
                                   headers=api.auth(api.admin)).status_code == 200
            clock.advance(ttl - 1)
            assert other.get("/v1/funding-requests", headers=api.auth(vendor)).status_code == 200  # still cached
            clock.advance(1.1)
            refused = other.get("/v1/funding-requests", headers=api.auth(vendor))
        assert (refused.status_code, refused.json()["code"]) == (401, "api_key_revoked")


class TestExpiry:
    def test_a_key_is_refused_from_its_expiry_day(self, api: Api) -> None:
        expired = api.key("cnsa_auditor", expires_on=today())
        valid = api.key("cnsa_auditor", expires_on=today() + timedelta(days=1))
        refused = api.client.get("/v1/funding-requests", headers=api.auth(expired))
        assert (refused.status_code, refused.json()["code"]) == (401, "api_key_expired")
        assert api.client.get("/v1/funding-requests", headers=api.auth(valid)).status_code == 200
        listed = {i["prefix"]: i for i in api.client.get("/v1/api-keys", headers=api.auth(api.admin)).json()["items"]}
        assert listed[prefix_of(expired)]["status"] == "expired"
        assert listed[prefix_of(valid)]["status"] == "active"
        assert listed[prefix_of(valid)]["expires_on"] == (today() + timedelta(days=1)).isoformat()


def stored_last_use(api: Api, key: str) -> datetime | None:
    with api.database.engine.connect() as conn:
        return conn.execute(sa.text("SELECT last_used_at FROM api_key WHERE prefix = :p"),  # type: ignore[no-any-return]
                            {"p": prefix_of(key)}).scalar_one()


class TestLastUse:
    def test_the_last_use_is_recorded(self, api: Api) -> None:
        porteur = api.key("porteur", siret="73282932000074")
        admin = api.admin
        assert stored_last_use(api, porteur) is None
        before = api.count("audit_event")
        assert api.client.get("/v1/funding-requests", headers=api.auth(porteur)).status_code == 200
        for _ in range(50):  # written after the answer, by the writer
            if stored_last_use(api, porteur) is not None:
                break
            time.sleep(0.05)
        listed = {i["prefix"]: i for i in api.client.get("/v1/api-keys", headers=api.auth(admin)).json()["items"]}
        assert listed[prefix_of(porteur)]["last_used_at"] is not None
        assert api.count("audit_event") == before, "a use is not a change of the key"
