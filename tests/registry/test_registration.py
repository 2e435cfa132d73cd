"""Registration follows the FINESS registry once an extract is imported: unknown and closed
FINESS refused, name and category read from it when omitted, a difference warned about."""

from __future__ import annotations

from typing import Any

from tests import factories
from tests.conftest import Api
from tests.registry.extracts import Et, extract


def register(api: Api, establishments: list[dict[str, Any]]) -> Any:
    return api.client.post("/v1/funding-requests", json=factories.funding_request(establishments=establishments),
                           headers=api.auth(api.admin))


def imported(api: Api, ets: list[Et], day: str) -> None:
    response = api.client.post("/v1/registry/finess-imports", files={"file": ("etalab.csv", extract(ets, day=day))},
                               headers=api.auth(api.admin))
    assert response.status_code == 201, response.text


def test_without_an_extract_the_request_says_the_names(api: Api) -> None:
    missing = register(api, [{"finess": factories.finess("33")}])
    assert missing.status_code == 422
    assert [(e["code"], e["field"], e["row"]) for e in missing.json()["errors"]] == [
        ("field_required", "establishments.name", 1)]
    fine = register(api, [{"finess": factories.finess("33"), "name": "EHPAD Les Tilleuls", "category": "500"}])
    assert fine.status_code == 201 and fine.json()["warnings"] == []


def test_once_an_extract_is_imported_registration_follows_it(api: Api) -> None:
    ehpad = Et(factories.finess("33"), "EHPAD Les Œillets", "33")
    ssiad = Et(factories.finess("33"), "SSIAD du Médoc", "33", category="354", category_label="SSIAD")
    gone = Et(factories.finess("33"), "EHPAD fermé", "33")
    imported(api, [ehpad, ssiad, gone], "2026-06-30")
    imported(api, [ehpad, ssiad], "2026-11-30")

    unknown, closed = factories.finess("33"), gone.finess
    refused = register(api, [{"finess": ehpad.finess}, {"finess": unknown, "name": "X"},
                             {"finess": closed, "name": "EHPAD fermé"}])
    assert refused.status_code == 422
    assert [(e["code"], e["row"]) for e in refused.json()["errors"]] == [("finess_unknown", 2), ("finess_closed", 3)]
    assert "2026-11-30" in refused.json()["errors"][1]["message"]
    assert api.count("funding_request") == 0

    created = register(api, [{"finess": ehpad.finess}, {"finess": ssiad.finess, "name": "SSIAD DU MEDOC",
                                                        "category": "500"}])
    assert created.status_code == 201, created.text
    body = created.json()
    assert {e["finess"]: (e["name"], e["category"]) for e in body["establishments"]} == {
        ehpad.finess: ("EHPAD Les Œillets", "500"), ssiad.finess: ("SSIAD DU MEDOC", "500")}
    assert [(w["code"], w["row"]) for w in body["warnings"]] == [("finess_category_differs", 2)]  # the name matches

    other = Et(factories.finess("33"), "Résidence Les Pins", "33")
    imported(api, [ehpad, ssiad, other], "2026-12-01")
    renamed = register(api, [{"finess": other.finess, "name": "Les Pins"}])
    assert renamed.status_code == 201
    assert [(w["code"], w["field"]) for w in renamed.json()["warnings"]] == [("finess_name_differs",
                                                                             "establishments.name")]
    assert "Résidence Les Pins" in renamed.json()["warnings"][0]["message"]
