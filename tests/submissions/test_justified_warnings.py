"""At fin de projet, a warning on a row is stored only with its justification, which the ARS and
the CNSA then see in the version, the review queue and the signed report."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pypdf

from tests import factories
from tests.conftest import Api, rows_for


def test_fin_de_projet_warnings_need_a_justification_kept_with_the_version(api: Api) -> None:
    vsr_on = (datetime.now(UTC).date() - timedelta(days=30)).isoformat()
    req = api.create_request(vsr_on=vsr_on, establishments=[
        {"finess": factories.finess("33"), "name": "EHPAD A", "category": "500"}])
    finess = req["establishments"][0]["finess"]
    rows = rows_for(req, active_dui=120)  # more active files than persons accompanied: a warning on row 1
    refused = api.push(req["galis_ref"], {"milestone": "fin_projet", "rows": rows})
    assert refused.status_code == 422 and refused.json()["code"] == "warning_not_acknowledged"
    issue = refused.json()["errors"][0]
    assert (issue["row"], issue["column"], issue["code"]) == (1, "G", "warning_not_acknowledged")
    assert "active_exceeds_accompanied" in issue["message"] and finess in issue["message"]
    assert api.count("submission") == 0

    short = api.push(req["galis_ref"], {"milestone": "fin_projet", "rows": rows, "acknowledgements": [
        {"code": "active_exceeds_accompanied", "finess": finess, "justification": "oui"}]})
    assert short.status_code == 422 and short.json()["errors"][0]["code"] == "acknowledgement_invalid"
    stray = api.push(req["galis_ref"], {"milestone": "fin_projet", "rows": rows_for(req), "acknowledgements": [
        {"code": "rate_jump", "finess": finess, "justification": "Une justification sans alerte."}]})
    assert stray.status_code == 422 and stray.json()["errors"][0]["code"] == "acknowledgement_unmatched"

    why = "Les résidents de l'accueil de jour ont aussi un DUI actif."
    stored = api.push(req["galis_ref"], {"milestone": "fin_projet", "rows": rows, "acknowledgements": [
        {"code": "active_exceeds_accompanied", "finess": finess, "justification": why}]})
    assert stored.status_code == 201, stored.text
    warning = next(w for w in stored.json()["warnings"] if w["code"] == "active_exceeds_accompanied")
    assert (warning["finess"], warning["justification"]) == (finess, why)
    version = api.client.get(f"/v1/submissions/{stored.json()['id']}", headers=api.auth(api.admin)).json()
    assert version["warnings"] == stored.json()["warnings"]

    ars = api.auth(api.key("ars_reviewer", region_code="75"))
    queued = next(i for i in api.client.get("/v1/review-queue", headers=ars).json()["items"]
                  if i["id"] == stored.json()["id"])
    assert queued["justifications"] == [{"finess": finess, "code": "active_exceeds_accompanied",
                                         "justification": why}]
    pdf = api.client.get(f"/v1/submissions/{stored.json()['id']}/report.pdf", headers=ars).content
    text = " ".join(" ".join(page.extract_text().split()) for page in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    assert "Justification du porteur" in text and "accueil de jour" in text

    # at the VA, warnings need no justification (one given is kept)
    va = api.push(req["galis_ref"], {"milestone": "va", "rows": rows})
    assert va.status_code == 201
