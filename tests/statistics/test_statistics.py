"""Peer statistics: quartiles with the method stated, small groups suppressed, an ARS its région
and the national level."""

from __future__ import annotations

import statistics
from typing import Any

import sqlalchemy as sa

from tests import factories
from tests.conftest import Api, rows_for


def stats(api: Api, key: str, **params: Any) -> Any:
    response = api.client.get("/v1/statistics/indicators", params={"milestone": "va", **params},
                              headers=api.auth(key))
    assert response.status_code == 200, response.text
    return response.json()


def pushed(api: Api, department: str, category: str, dmp_fed: list[int]) -> list[dict[str, Any]]:
    req = api.create_request(establishments=[{"finess": factories.finess(department), "name": f"ESMS {n}",
                                              "category": category} for n in range(len(dmp_fed))])
    rows = [factories.row(finess=e["finess"], raison_sociale=e["name"], dmp_fed=d, active_dui=95)
            for e, d in zip(req["establishments"], dmp_fed, strict=True)]
    response = api.push(req["galis_ref"], {"milestone": "va", "rows": rows})
    assert response.status_code == 201, response.text
    return response.json()["rows"]  # type: ignore[no-any-return]


def test_quartiles_by_category_with_small_groups_suppressed(api: Api) -> None:
    ehpad_rows = pushed(api, "33", "500", [50, 60, 70, 80])  # four EHPAD in Nouvelle-Aquitaine
    pushed(api, "24", "354", [90, 95])  # two SSIAD: too few to publish
    cnsa = api.key("cnsa_auditor")
    body = stats(api, cnsa, group_by="category")
    assert body["suppression_threshold"] == 3 and "type 7" in body["quantile_method"]
    groups = {g["group"]["category"]: g for g in body["groups"]}
    assert groups["354"] == {"group": {"category": "354"}, "suppressed": True, "establishments": None,
                             "indicators": None}
    ehpad = groups["500"]
    rates = [r["indicators"]["dmp"]["rate"] for r in ehpad_rows]  # as each version shows them
    p25, median, p75 = statistics.quantiles(rates, n=4, method="inclusive")
    assert ehpad["establishments"] == 4 and ehpad["indicators"]["dmp"]["n"] == 4
    assert (ehpad["indicators"]["dmp"]["p25"], ehpad["indicators"]["dmp"]["median"],
            ehpad["indicators"]["dmp"]["p75"]) == (round(p25, 1), round(median, 1), round(p75, 1))
    met = [r["indicators"]["dmp"]["met"] for r in ehpad_rows]
    assert ehpad["indicators"]["dmp"]["met_share"] == round(100 * sum(met) / len(met), 1)
    assert 0 < sum(met) < len(met)  # the figures were chosen so that some reach the target, some not
    assert body["national"]["establishments"] == 6 and body["national"]["indicators"]["dmp"]["n"] == 6


def test_an_ars_sees_its_region_and_the_national_level_and_others_may_not(api: Api) -> None:
    pushed(api, "33", "500", [50, 60, 70])
    pushed(api, "2A", "500", [80, 85, 90])
    ars = api.key("ars_reviewer", region_code="75")
    body = stats(api, ars, group_by="region")
    assert [g["group"] for g in body["groups"]] == [{"region": "75"}] and body["scope"] == "75"
    assert body["national"]["establishments"] == 6
    national = stats(api, api.key("cnsa_auditor"), group_by="category,region")
    assert [g["group"] for g in national["groups"]] == [{"category": "500", "region": "75"},
                                                         {"category": "500", "region": "94"}]
    by_department = stats(api, api.key("cnsa_auditor"), group_by="department")
    assert [g["group"]["department"] for g in by_department["groups"]] == ["2A", "33"]
    for key in (api.key("vendor", galis_refs=["99999999"]), api.key("porteur", siret=factories.siret())):
        refused = api.client.get("/v1/statistics/indicators", params={"milestone": "va"}, headers=api.auth(key))
        assert refused.status_code == 403
    wrong = api.client.get("/v1/statistics/indicators", params={"milestone": "va", "group_by": "vendor"},
                           headers=api.auth(ars))
    assert wrong.status_code == 422


def test_an_establishment_sees_its_percentile_rank_among_its_peers(api: Api) -> None:
    rows = pushed(api, "33", "500", [50, 60, 70, 80])
    pushed(api, "2A", "500", [90, 95, 99])
    target = rows[1]["finess"]  # DMP 60: one peer of its région below, two above
    req_key = api.key("cnsa_auditor")
    response = api.client.get(f"/v1/establishments/{target}/comparison", params={"milestone": "va"},
                              headers=api.auth(req_key))
    assert response.status_code == 200, response.text
    dmp = response.json()["indicators"]["dmp"]
    assert dmp["rate"] == rows[1]["indicators"]["dmp"]["rate"]
    assert dmp["region"] == {"peers": 4, "percentile_rank": 37.5, "median": dmp["region"]["median"],
                             "suppressed": False}  # (1 below + 1/2 itself) / 4
    assert dmp["national"]["peers"] == 7 and dmp["national"]["percentile_rank"] == round(100 * 1.5 / 7, 1)
    elsewhere = api.key("ars_reviewer", region_code="84")
    hidden = api.client.get(f"/v1/establishments/{target}/comparison", params={"milestone": "va"},
                            headers=api.auth(elsewhere))
    assert hidden.status_code == 404 and hidden.json()["code"] == "establishment_not_found"
    nothing_yet = api.client.get(f"/v1/establishments/{target}/comparison", params={"milestone": "fin_projet"},
                                 headers=api.auth(req_key))
    assert nothing_yet.status_code == 200 and nothing_yet.json()["indicators"] is None


def test_reporting_by_region_and_by_vendor(api: Api) -> None:
    a = api.create_request(establishments=[{"finess": factories.finess("33"), "name": "A", "category": "500"}])
    api.create_request(establishments=[{"finess": factories.finess("33"), "name": "B", "category": "500"}])
    c = api.create_request(establishments=[{"finess": factories.finess("2A"), "name": "C", "category": "500"}])
    api.create_request(vsr_on="2024-04-01",  # fin de projet due on 1 July 2024: nothing sent
                       establishments=[{"finess": factories.finess("24"), "name": "D", "category": "500"}])
    vendor = api.key("vendor", galis_refs=[a["galis_ref"]], label="Éditeur X")
    first = api.push(a["galis_ref"], {"milestone": "va", "rows": rows_for(a)}, key=vendor).json()
    api.push(c["galis_ref"], {"milestone": "va", "rows": rows_for(c)})
    ars = api.key("ars_reviewer", region_code="75")
    assert api.client.post(f"/v1/submissions/{first['id']}/reviews", json={"decision": "accepted"},
                           headers=api.auth(ars)).status_code == 201
    cnsa = api.key("cnsa_auditor")

    def report(key: str, **params: Any) -> Any:
        response = api.client.get("/v1/statistics/reporting", params=params, headers=api.auth(key))
        assert response.status_code == 200, response.text
        return {g["group"]: g for g in response.json()["groups"]}

    by_region = report(cnsa, milestone="va", group_by="region")
    assert set(by_region) == {"75", "94"}
    assert {k: by_region["75"][k] for k in ("requests", "milestone_open", "with_version", "accepted")} == {
        "requests": 3, "milestone_open": 3, "with_version": 1, "accepted": 1}
    assert by_region["94"]["with_version"] == 1 and by_region["94"]["accepted"] == 0
    assert set(report(ars, milestone="va", group_by="region")) == {"75"}
    by_vendor = report(cnsa, milestone="va", group_by="vendor")
    assert by_vendor["Éditeur X"]["with_version"] == 1 and by_vendor["Éditeur X"]["accepted"] == 1
    fin = report(cnsa, milestone="fin_projet", group_by="region")
    assert fin["75"]["late"] == 1 and fin["75"]["milestone_open"] == 1


def latest_rates(api: Api) -> list[tuple[Any, ...]]:
    with api.database.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT finess, milestone, version, dmp_rate, dmp_met, active_files_rate FROM latest_rate "
            "ORDER BY finess, milestone"))]


def test_the_statistics_count_each_establishment_once_with_its_latest_version(api: Api) -> None:
    """The maintained rates follow the pushes: a new version replaces its request's rates, a dry
    run or a refused push leaves them, the other milestone keeps its own."""
    req = api.create_request(establishments=[{"finess": factories.finess("33"), "name": f"ESMS {n}",
                                              "category": "500"} for n in range(3)])
    ref = req["galis_ref"]
    assert api.push(ref, {"milestone": "va", "rows": rows_for(req, dmp_fed=10)}).status_code == 201
    second = api.push(ref, {"milestone": "va", "rows": rows_for(req, dmp_fed=80)})
    assert second.status_code == 201
    cnsa = api.key("cnsa_auditor")
    dmp = stats(api, cnsa)["national"]["indicators"]["dmp"]
    shown = second.json()["rows"][0]["indicators"]["dmp"]
    assert dmp["n"] == 3 and dmp["median"] == shown["rate"] and dmp["met_share"] == (100.0 if shown["met"] else 0.0)
    before = latest_rates(api)
    assert [(r[1], r[2], r[3]) for r in before] == [("va", 2, shown["rate"])] * 3
    assert api.push(ref, {"milestone": "va", "rows": rows_for(req, dmp_fed=5)}, dry_run="true").status_code == 200
    assert api.push(ref, {"milestone": "va", "rows": rows_for(req, dmp_fed=-1)}).status_code == 422
    assert latest_rates(api) == before
    assert stats(api, cnsa, milestone="fin_projet")["national"]["establishments"] is None  # suppressed: none
