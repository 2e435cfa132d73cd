from __future__ import annotations

from tests import factories
from tests.conftest import Api


class TestCreateFundingRequest:
    def test_request_is_stored_with_its_region_and_closed_milestones(self, api: Api) -> None:
        payload = factories.funding_request(establishments=[
            {"finess": "240000372", "name": "EHPAD Les Tilleuls", "category": "500"},
            {"finess": "160000253", "name": "IME", "category": "183"}])
        response = api.client.post("/v1/funding-requests", json=payload, headers=api.auth(api.admin))
        assert response.status_code == 201
        body = response.json()
        assert (body["region_code"], body["region_name"], body["status"]) == ("75", "Nouvelle-Aquitaine", "open")
        assert body["milestones"]["va"] == {"open": False, "opened_on": None}
        assert body["milestones"]["fin_projet"]["open"] is False
        assert [e["finess"] for e in body["establishments"]] == ["160000253", "240000372"]
        read = api.client.get(f"/v1/funding-requests/{payload['galis_ref']}", headers=api.auth(api.admin))
        assert body.pop("warnings") == []  # what the registration found to say, then
        assert read.json() == body

    def test_establishments_of_two_regions_are_refused(self, api: Api) -> None:
        payload = factories.funding_request(establishments=[
            {"finess": "240000372", "name": "A"}, {"finess": "2B0000020", "name": "B"}])
        response = api.client.post("/v1/funding-requests", json=payload, headers=api.auth(api.admin))
        assert response.status_code == 422
        assert response.json()["errors"][0]["code"] == "establishments_multiple_regions"
        assert api.count("funding_request") == 0

    def test_identifiers_are_checked_all_at_once(self, api: Api) -> None:
        payload = factories.funding_request(galis_ref="1234", siret="73282932000079",
                                            establishments=[{"finess": "240000373", "name": "A"},
                                                            {"finess": factories.finess("9806"), "name": "B"}])
        response = api.client.post("/v1/funding-requests", json=payload, headers=api.auth(api.admin))
        assert response.status_code == 422
        found = {(e["field"], e["code"], e["row"]) for e in response.json()["errors"]}
        assert found == {("galis_ref", "galis_format", None), ("siret", "siret_checksum", None),
                         ("establishments.finess", "finess_checksum", 1),
                         ("establishments.finess", "finess_region_unmapped", 2)}

    def test_a_reference_is_registered_once(self, api: Api) -> None:
        payload = api.create_request(va_on=None)
        again = factories.funding_request(galis_ref=payload["galis_ref"])
        response = api.client.post("/v1/funding-requests", json=again, headers=api.auth(api.admin))
        assert response.status_code == 409 and response.json()["code"] == "galis_ref_exists"

    def test_a_finess_is_funded_once(self, api: Api) -> None:
        payload = api.create_request(va_on=None)
        again = factories.funding_request(establishments=payload["establishments"])
        response = api.client.post("/v1/funding-requests", json=again, headers=api.auth(api.admin))
        assert response.status_code == 409 and response.json()["code"] == "finess_already_funded"
        assert payload["establishments"][0]["finess"] in response.json()["detail"]

    def test_malformed_json_is_a_400_problem(self, api: Api) -> None:
        response = api.client.post("/v1/funding-requests", content=b"{", headers={
            **api.auth(api.admin), "Content-Type": "application/json"})
        assert response.status_code == 400 and response.json()["code"] == "malformed_json"


class TestLifecycleEvents:
    def test_the_lifecycle_from_va_to_balance(self, api: Api) -> None:
        ref = api.create_request(va_on=None)["galis_ref"]
        state = api.event(ref, "va_validated", "2024-03-01")
        assert state["milestones"]["va"] == {"open": True, "opened_on": "2024-03-01"}
        state = api.event(ref, "vsr_validated", "2024-06-15")
        assert state["milestones"]["fin_projet"]["due_on"] == "2024-09-15"
        state = api.event(ref, "deadline_extended", "2024-09-01", until="2024-12-15")
        assert state["milestones"]["fin_projet"]["due_on"] == "2024-12-15"
        state = api.event(ref, "balance_paid", "2024-12-01")
        assert state["status"] == "closed" and state["milestones"]["va"]["open"] is False
        history = api.client.get(f"/v1/funding-requests/{ref}/events", headers=api.auth(api.admin)).json()
        assert [e["type"] for e in history] == ["va_validated", "vsr_validated", "deadline_extended", "balance_paid"]

    def test_out_of_order_events_are_conflicts(self, api: Api) -> None:
        ref = api.create_request(va_on=None)["galis_ref"]
        url = f"/v1/funding-requests/{ref}/events"
        response = api.client.post(url, json={"type": "vsr_validated", "date": "2024-03-01"},
                                   headers=api.auth(api.admin))
        assert response.status_code == 409 and response.json()["code"] == "va_not_validated"
        response = api.client.post(url, json={"type": "balance_paid", "date": "2024-03-01"},
                                   headers=api.auth(api.admin))
        assert response.status_code == 409 and response.json()["code"] == "milestone_not_open"
        assert api.count("lifecycle_event") == 0

    def test_event_body_is_validated(self, api: Api) -> None:
        ref = api.create_request(va_on=None)["galis_ref"]
        response = api.client.post(f"/v1/funding-requests/{ref}/events",
                                   json={"type": "opened", "date": 0, "extra": 1}, headers=api.auth(api.admin))
        assert response.status_code == 422
        found = {(e["field"], e["code"]) for e in response.json()["errors"]}
        assert found == {("type", "invalid_choice"), ("date", "invalid_date"), ("extra", "unknown_field")}


class TestListFundingRequests:
    def test_pagination_walks_every_visible_request_once(self, api: Api) -> None:
        refs = sorted(api.create_request(va_on=None)["galis_ref"] for _ in range(5))
        seen: list[str] = []
        cursor = None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = api.client.get("/v1/funding-requests", params=params, headers=api.auth(api.admin)).json()
            seen += [item["galis_ref"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == refs

    def test_limit_is_bounded(self, api: Api) -> None:
        response = api.client.get("/v1/funding-requests", params={"limit": 501}, headers=api.auth(api.admin))
        assert response.status_code == 422 and response.json()["errors"][0]["field"] == "limit"


def test_healthz_answers_without_a_key(api: Api) -> None:
    response = api.client.get("/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}
