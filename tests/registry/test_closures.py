"""A version whose period reaches past the last FINESS extract that listed one of its (now closed)
establishments gets a risk reason in its control case — at once, or when the snapshot arrives."""

from __future__ import annotations

from datetime import date
from typing import Any

from service.domain import risk
from tests import factories
from tests.conftest import Api, rows_for
from tests.registry.extracts import Et, extract


def imported(api: Api, ets: list[Et], day: str) -> None:
    response = api.client.post("/v1/registry/finess-imports", files={"file": ("etalab.csv", extract(ets, day=day))},
                               headers=api.auth(api.admin))
    assert response.status_code == 201, response.text


def case_of(api: Api, submission_id: str) -> Any:
    cnsa = api.auth(api.key("cnsa_auditor"))
    return next(c for c in api.client.get("/v1/control-queue", params={"limit": 500}, headers=cnsa).json()["items"]
                if c["submission_id"] == submission_id)


def test_a_closure_in_the_declared_period_is_a_risk_reason_kept_up_to_date(api: Api) -> None:
    kept, gone = Et(factories.finess("33"), "EHPAD A", "33"), Et(factories.finess("33"), "EHPAD B", "33")
    imported(api, [kept, gone], "2024-01-15")
    req = api.create_request(establishments=[{"finess": kept.finess}, {"finess": gone.finess}])
    before = api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)}).json()
    first = case_of(api, before["id"])
    assert "establishment_closed" not in {r["code"] for r in first["reasons"]}

    imported(api, [kept], "2024-02-20")  # B is gone: closed between 15 January and 20 February
    refreshed = case_of(api, before["id"])
    reason = next(r for r in refreshed["reasons"] if r["code"] == "establishment_closed")
    assert gone.finess in reason["message"] and "2024-02-20" in reason["message"] and "2024-03-31" in reason["message"]
    assert kept.finess not in reason["message"]
    assert refreshed["score"] == min(100, first["score"] + reason["points"])

    later = api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req, dmp_fed=41)}).json()
    assert "establishment_closed" in {r["code"] for r in case_of(api, later["id"])["reasons"]}

    imported(api, [kept, gone], "2024-03-10")  # B is listed again: the reason goes
    assert "establishment_closed" not in {r["code"] for r in case_of(api, before["id"])["reasons"]}
    assert case_of(api, before["id"])["score"] == first["score"]


def test_the_closure_rule_on_its_own() -> None:
    closure = risk.Closure(last_seen_on=date(2024, 1, 15), closed_on=date(2024, 2, 20))
    within = risk.RowFacts(finess="330000001", counts={}, indicators={}, period_end=date(2024, 3, 31))
    before = risk.RowFacts(finess="330000001", counts={}, indicators={}, period_end=date(2024, 1, 10))
    assert risk.closure_reason([within], {"330000001": closure}) is not None
    assert risk.closure_reason([before], {"330000001": closure}) is None
    assert risk.closure_reason([within], {}) is None
    reasons = risk.replaced([{"code": "round_figures", "message": "", "points": 10}], "establishment_closed",
                            risk.closure_reason([within], {"330000001": closure}))
    assert [r["code"] for r in reasons] == ["establishment_closed", "round_figures"]
