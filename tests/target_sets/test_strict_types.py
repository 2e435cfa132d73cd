"""A target set's body is taken as its schema types it: a boolean is a boolean, a target a
number; nothing is stored from a refused body."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Api

BODY = {"id": "campagne-2025-ehpad", "label": "Campagne 2025, EHPAD", "campaign_year": 2025, "category": "500",
        "values": {"active_files": 90, "personal_plan": 90, "agenda": 90, "mssante": 70, "dmp": 70},
        "binding": True}


def post(api: Api, body: dict[str, Any]) -> Any:
    return api.client.post("/v1/target-sets", json=body, headers=api.auth(api.admin))


@pytest.mark.parametrize("binding", [0, 1, "true", None])
def test_binding_is_a_json_boolean(api: Api, binding: object) -> None:
    before = api.count("target_set")
    response = post(api, {**BODY, "binding": binding})
    assert response.status_code == 422, response.text
    assert [e["field"] for e in response.json()["errors"]] == ["binding"]
    assert api.count("target_set") == before


@pytest.mark.parametrize("dmp", ["70", True])
def test_a_target_is_a_json_number(api: Api, dmp: object) -> None:
    before = api.count("target_set")
    response = post(api, {**BODY, "values": {**BODY["values"], "dmp": dmp}})  # type: ignore[dict-item]
    assert response.status_code == 422, response.text
    assert api.count("target_set") == before


def test_integers_and_decimals_are_numbers(api: Api) -> None:
    response = post(api, {**BODY, "values": {**BODY["values"], "dmp": 70.5}, "binding": False})
    assert response.status_code == 201, response.text
    assert response.json()["values"]["dmp"] == 70.5 and response.json()["binding"] is False
