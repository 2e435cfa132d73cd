"""A dry run answers with what would change against the latest version of its milestone."""

from __future__ import annotations

from tests import factories
from tests.conftest import Api, rows_for


def test_a_dry_run_shows_the_fields_and_targets_that_change_and_the_finess_added_or_removed(api: Api) -> None:
    establishments = [{"finess": factories.finess("33"), "name": f"ESMS {n}", "category": "500"} for n in range(3)]
    req = api.create_request(establishments=establishments)
    a, b, c = (e["finess"] for e in establishments)
    first = api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)}, dry_run="true")
    assert first.status_code == 200, first.text
    assert first.json()["diff"] == {"against_version": None, "changed": [], "added": sorted([a, b, c]),
                                    "removed": []}
    assert api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)}).status_code == 201

    rows = rows_for(req)
    rows[0]["dmp_fed"] = 70  # 70 DMP for 90 personal plans: 77.8 %, the DMP target (70 %) is now met
    rows[1]["period_end"] = "2024-03-30"
    rows[1]["raison_sociale"] = "ESMS renommé"
    tried = api.push(req["galis_ref"], {"milestone": "va", "rows": rows}, dry_run="true")
    assert tried.status_code == 200, tried.text
    diff = tried.json()["diff"]
    assert diff["against_version"] == 1 and diff["added"] == [] and diff["removed"] == []
    changes = {c["finess"]: c for c in diff["changed"]}
    assert set(changes) == {a, b}
    assert changes[a]["fields"] == [{"field": "dmp_fed", "column": "E", "before": 40, "after": 70}]
    assert changes[a]["indicators"] == [{"indicator": "dmp", "before": False, "after": True}]
    assert changes[b]["indicators"] == []
    assert [(f["field"], f["column"]) for f in changes[b]["fields"]] == [("raison_sociale", "D"),
                                                                        ("period_end", "L")]
    assert changes[b]["fields"][1] == {"field": "period_end", "column": "L", "before": "2024-03-31",
                                       "after": "2024-03-30"}
    assert api.count("submission") == 1  # a dry run stores nothing
    fewer = api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)[:2]}, dry_run="true")
    assert fewer.status_code == 422  # a dry run checks every rule: a FINESS left out is refused, no diff
    assert [e["code"] for e in fewer.json()["errors"]] == ["finess_missing"] and c in fewer.json()["errors"][0][
        "message"]
