"""Target sets as data: a set drives the next evaluation, refuses change once used, and every
change is audited."""

from __future__ import annotations

from typing import Any

from tests import factories
from tests.conftest import Api, rows_for

EHPAD_2024 = {"id": "campagne-2024-ehpad", "label": "Campagne 2024, EHPAD : DMP à 50 %", "campaign_year": 2024,
              "category": "500", "values": {"active_files": 90, "personal_plan": 90, "agenda": 90, "mssante": 70,
                                             "dmp": 50}, "binding": True}


def put(api: Api, body: dict[str, Any], key: str | None = None) -> Any:
    return api.client.post("/v1/target-sets", json=body, headers=api.auth(key or api.admin))


def listed(api: Api) -> dict[str, Any]:
    return {s["id"]: s for s in api.client.get("/v1/target-sets", headers=api.auth(api.admin)).json()["items"]}


def test_the_initial_sets_are_data_and_a_new_set_drives_the_next_evaluation(api: Api) -> None:
    sets = listed(api)
    assert set(sets) == {"instruction-2024-15", "amorcage-2021"}
    assert sets["instruction-2024-15"]["campaign_year"] is None and sets["amorcage-2021"]["binding"] is False
    assert not any(s["used"] for s in sets.values())

    created = put(api, EHPAD_2024)
    assert created.status_code == 201, created.text
    req = api.create_request(establishments=[
        {"finess": factories.finess("24"), "name": "EHPAD A", "category": "500"},
        {"finess": factories.finess("24"), "name": "SSIAD B", "category": "354"}])
    pushed = api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)})
    assert pushed.status_code == 201, pushed.text
    rows = {r["finess"]: r for r in pushed.json()["rows"]}
    ehpad, ssiad = (e["finess"] for e in req["establishments"])
    assert rows[ehpad]["target_set"] == "campagne-2024-ehpad" and rows[ehpad]["indicators"]["dmp"]["target"] == 50
    assert rows[ssiad]["target_set"] == "instruction-2024-15" and rows[ssiad]["indicators"]["dmp"]["target"] == 70
    stored = api.client.get(f"/v1/submissions/{pushed.json()['id']}", headers=api.auth(api.admin)).json()
    assert {r["finess"]: r["target_set"] for r in stored["rows"]} == {ehpad: "campagne-2024-ehpad",
                                                                       ssiad: "instruction-2024-15"}
    assert {t["id"] for t in stored["target_sets"]} == {"campagne-2024-ehpad", "instruction-2024-15"}
    assert listed(api)["campagne-2024-ehpad"]["used"] is True

    # once used, the set refuses change; the version keeps what it was evaluated with
    refused = put(api, {**EHPAD_2024, "values": {**EHPAD_2024["values"], "dmp": 10}})
    assert refused.status_code == 409 and refused.json()["code"] == "target_set_in_use"
    report = api.client.get(f"/v1/submissions/{pushed.json()['id']}/report.pdf", headers=api.auth(api.admin))
    assert report.status_code == 200
    events = api.client.get("/v1/audit-events", params={"limit": 500}, headers=api.auth(api.admin)).json()["items"]
    assert [(e["action"], e["object_id"], e["payload"]["values"]["dmp"]) for e in events
            if e["object_type"] == "target_set"] == [("target_set_created", "campagne-2024-ehpad", 50.0)]


def test_an_unused_set_is_replaced_and_scopes_stay_unambiguous(api: Api) -> None:
    assert put(api, EHPAD_2024).status_code == 201
    replaced = put(api, {**EHPAD_2024, "label": "Campagne 2024, EHPAD : DMP à 60 %",
                         "values": {**EHPAD_2024["values"], "dmp": 60}})
    assert replaced.status_code == 200 and replaced.json()["values"]["dmp"] == 60
    twin = put(api, {**EHPAD_2024, "id": "autre-jeu"})
    assert twin.status_code == 409 and twin.json()["code"] == "target_set_scope_taken"
    no_default = put(api, {"id": "instruction-2024-15", "label": "Instruction", "campaign_year": 2025,
                           "category": None, "values": EHPAD_2024["values"], "binding": True})
    assert no_default.status_code == 422 and no_default.json()["errors"][0]["code"] == "target_set_default_required"
    bad = put(api, {**EHPAD_2024, "id": "x", "values": {**EHPAD_2024["values"], "dmp": 120}})
    assert bad.status_code == 422
    ars = api.key("ars_reviewer", region_code="75")
    forbidden = put(api, {**EHPAD_2024, "id": "par-une-ars"}, key=ars)
    assert forbidden.status_code == 403 and forbidden.json()["code"] == "role_not_allowed"
    events = api.client.get("/v1/audit-events", params={"limit": 500}, headers=api.auth(api.admin)).json()["items"]
    assert [e["action"] for e in events if e["object_type"] == "target_set"] == ["target_set_created",
                                                                                "target_set_replaced"]
