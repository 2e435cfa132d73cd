"""Obligations move push → await_review → resubmit / upload_proofs → none as the story advances."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests import factories, proof_files
from tests.conftest import Api, rows_for


def next_actions(api: Api, key: str) -> dict[tuple[str, str], dict[str, Any]]:
    response = api.client.get("/v1/obligations", headers=api.auth(key))
    assert response.status_code == 200, response.text
    return {(i["galis_ref"], i["milestone"]): i for i in response.json()["items"]}


def test_the_next_action_follows_the_story(api: Api) -> None:
    establishments = [{"finess": factories.finess("33"), "name": "EHPAD A", "category": "500"},
                      {"finess": factories.finess("33"), "name": "SSIAD B", "category": "354"}]
    req = api.create_request(establishments=establishments)
    ref = req["galis_ref"]
    porteur = api.key("porteur", siret=req["siret"])
    ars = api.auth(api.key("ars_reviewer", region_code="75"))
    assert next_actions(api, porteur)[(ref, "va")]["next_action"] == "push"
    assert (ref, "fin_projet") not in next_actions(api, porteur)  # not open, nothing sent

    first = api.push(ref, {"milestone": "va", "rows": rows_for(req)}, key=porteur).json()
    assert next_actions(api, porteur)[(ref, "va")]["next_action"] == "await_review"
    api.client.post(f"/v1/submissions/{first['id']}/reviews", headers=ars,
                    json={"decision": "changes_requested", "comment": "Vérifiez les DUI actifs."})
    asked = next_actions(api, porteur)[(ref, "va")]
    assert asked["next_action"] == "resubmit" and asked["review"]["comment"] == "Vérifiez les DUI actifs."
    second = api.push(ref, {"milestone": "va", "rows": rows_for(req)}, key=porteur).json()
    api.client.post(f"/v1/submissions/{second['id']}/reviews", headers=ars, json={"decision": "accepted"})
    assert next_actions(api, porteur)[(ref, "va")]["next_action"] == "none"

    vsr_on = (datetime.now(UTC).date() - timedelta(days=30)).isoformat()
    api.event(ref, "vsr_validated", vsr_on)
    fin = next_actions(api, porteur)[(ref, "fin_projet")]
    assert fin["next_action"] == "push" and 55 <= fin["days_left"] <= 62
    final = api.push(ref, {"milestone": "fin_projet", "rows": rows_for(req)}, key=porteur).json()
    missing = next_actions(api, porteur)[(ref, "fin_projet")]
    assert missing["next_action"] == "upload_proofs"
    assert sorted(missing["proofs_missing"]) == sorted(e["finess"] for e in establishments)
    for e in establishments:
        assert api.upload_proof(final["id"], proof_files.pdf(), key=porteur, finess=e["finess"]).status_code == 201
    assert next_actions(api, porteur)[(ref, "fin_projet")]["next_action"] == "await_review"

    cnsa = api.auth(api.key("cnsa_auditor"))
    case = next(c for c in api.client.get("/v1/control-queue", headers=cnsa).json()["items"]
                if c["submission_id"] == final["id"])
    api.client.post(f"/v1/control-cases/{case['id']}/proof-requests", headers=cnsa,
                    json={"finess": establishments[0]["finess"], "message": "Rapport signé, s'il vous plaît."})
    items = next_actions(api, porteur)
    urgent = items[(ref, "fin_projet")]
    assert urgent["next_action"] == "answer_proof_request"
    assert [r["finess"] for r in urgent["open_proof_requests"]] == [establishments[0]["finess"]]
    ordered = api.client.get("/v1/obligations", headers=api.auth(porteur)).json()["items"]
    assert ordered[0]["next_action"] == "answer_proof_request"  # most urgent first

    other = api.key("porteur", siret=factories.siret())
    assert next_actions(api, other) == {}
    page = api.client.get("/v1/obligations", params={"limit": 1}, headers=api.auth(porteur)).json()
    rest = api.client.get("/v1/obligations", params={"limit": 1, "cursor": page["next_cursor"]},
                          headers=api.auth(porteur)).json()
    assert [i["milestone"] for i in page["items"] + rest["items"]] == [i["milestone"] for i in ordered]
