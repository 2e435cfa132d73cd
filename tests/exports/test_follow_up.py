"""The regional follow-up table: one line per FINESS, in the caller's scope, filtered."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from typing import Any

import openpyxl

from tests import factories, proof_files
from tests.conftest import Api, rows_for


def table(api: Api, key: str, **params: Any) -> list[dict[str, Any]]:
    response = api.client.get("/v1/exports/follow-up.xlsx", params=params, headers=api.auth(key))
    assert response.status_code == 200, response.text
    sheet = openpyxl.load_workbook(io.BytesIO(response.content), read_only=True)["Suivi"]
    rows = list(sheet.iter_rows(values_only=True))
    header = rows[0]
    return [dict(zip(header, (*row, *[None] * (len(header) - len(row))), strict=True)) for row in rows[1:]]


def test_one_line_per_finess_with_where_it_stands(api: Api) -> None:
    vsr_on = (datetime.now(UTC).date() - timedelta(days=30)).isoformat()
    ehpad, ssiad = factories.finess("33"), factories.finess("33")
    req = api.create_request(vsr_on=vsr_on, establishments=[{"finess": ehpad, "name": "EHPAD A", "category": "500"},
                                                            {"finess": ssiad, "name": "SSIAD B", "category": "354"}])
    corse = api.create_request(establishments=[{"finess": factories.finess("2A"), "name": "EHPAD C",
                                                "category": "500"}])
    vendor = api.key("vendor", galis_refs=[req["galis_ref"]], label="Éditeur DUI")
    final = api.push(req["galis_ref"], {"milestone": "fin_projet", "rows": rows_for(req)}, key=vendor).json()
    assert api.upload_proof(final["id"], proof_files.pdf(), finess=ehpad).status_code == 201
    cnsa = api.key("cnsa_auditor")
    case = next(c for c in api.client.get("/v1/control-queue", headers=api.auth(cnsa)).json()["items"]
                if c["submission_id"] == final["id"])
    asked = api.client.post(f"/v1/control-cases/{case['id']}/proof-requests", headers=api.auth(cnsa),
                            json={"finess": ssiad, "message": "Rapport signé du nombre de DUI actifs."})
    assert asked.status_code == 201

    lines = table(api, cnsa)
    assert [line["FINESS ET"] for line in lines] == [*sorted([ehpad, ssiad]), corse["establishments"][0]["finess"]]
    by_finess = {line["FINESS ET"]: line for line in lines}
    first = by_finess[ehpad]
    assert (first["Demande GALIS"], first["Éditeur"], first["Jalon de la dernière version"], first["Version"]) == (
        req["galis_ref"], "Éditeur DUI", "fin de projet", 1)
    assert first["Département"] == "33" and first["Catégorie"] == "500" and first["Raison sociale"] == "EHPAD A"
    assert first["Preuves complètes"] == "oui" and by_finess[ssiad]["Preuves complètes"] == "non"
    assert first["Demandes de preuve ouvertes"] == 0 and by_finess[ssiad]["Demandes de preuve ouvertes"] == 1
    assert first["Décision de l'ARS"] == "en attente" and isinstance(first["Score de risque"], int)
    rate = next(v for k, v in first.items() if k and "DMP" in k and k.endswith("(%)"))
    assert rate == final["rows"][[r["finess"] for r in final["rows"]].index(ehpad)]["indicators"]["dmp"]["rate"]
    untouched = by_finess[corse["establishments"][0]["finess"]]
    assert untouched["Version"] is None and untouched["VA ouverte le"] is not None

    ars = api.key("ars_reviewer", region_code="75")
    assert {line["FINESS ET"] for line in table(api, ars)} == {ehpad, ssiad}
    assert [line["FINESS ET"] for line in table(api, ars, category="354")] == [ssiad]
    assert [line["Département"] for line in table(api, cnsa, department="2A")] == ["2A"]
    refused = api.client.get("/v1/exports/follow-up.xlsx", headers=api.auth(vendor))
    assert refused.status_code == 403
    events = api.client.get("/v1/audit-events", params={"limit": 500}, headers=api.auth(cnsa)).json()["items"]
    assert sum(1 for e in events if e["action"] == "export_read" and e["object_id"].startswith("suivi")) == 4
