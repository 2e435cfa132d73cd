"""Pushes say where the figures come from: stored with the version, shown in it, in the report and
in the export; an extraction in the future or before the end of a period is refused."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import openpyxl
import pypdf

from tests import template_files
from tests.conftest import Api, rows_for

SOFTWARE = {"name": "DUI Facile", "version": "4.2.1"}


def test_provenance_is_kept_and_shown_everywhere_the_version_is(api: Api) -> None:
    req = api.create_request()
    pushed = api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req), "software": SOFTWARE,
                                         "extracted_at": "2024-04-02T08:30:00+02:00"})
    assert pushed.status_code == 201, pushed.text
    expected = {"software": SOFTWARE, "extracted_at": "2024-04-02T06:30:00Z"}
    assert pushed.json()["provenance"] == expected
    version_id = pushed.json()["id"]
    assert api.client.get(f"/v1/submissions/{version_id}", headers=api.auth(api.admin)).json()["provenance"] == \
        expected
    workbook = openpyxl.load_workbook(io.BytesIO(api.client.get(f"/v1/submissions/{version_id}.xlsx",
                                                                headers=api.auth(api.admin)).content))
    rates = workbook.worksheets[1]
    header = [c.value for c in rates[1]]
    line = [c.value for c in rates[2]]
    assert line[header.index("Logiciel")] == "DUI Facile 4.2.1"
    assert line[header.index("Données extraites le (UTC)")] == datetime(2024, 4, 2, 6, 30)
    pdf = api.client.get(f"/v1/submissions/{version_id}/report.pdf", headers=api.auth(api.admin)).content
    text = " ".join(" ".join(p.extract_text().split()) for p in pypdf.PdfReader(io.BytesIO(pdf)).pages)
    assert "Provenance" in text and "DUI Facile 4.2.1" in text and "02/04/2024" in text

    plain = api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req, dmp_fed=41)})
    assert plain.status_code == 201 and plain.json()["provenance"] is None


def test_an_extraction_in_the_future_or_before_a_period_ends_is_refused(api: Api) -> None:
    req = api.create_request()
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    refused = api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req), "extracted_at": future})
    assert refused.status_code == 422 and refused.json()["errors"][0]["code"] == "extracted_at_in_future"
    early = api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req),
                                        "extracted_at": "2024-03-15T10:00:00Z"})
    issue = early.json()["errors"][0]
    assert (issue["code"], issue["row"], issue["column"]) == ("extracted_before_period_end", 1, "L")
    naive = api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req),
                                        "extracted_at": "2024-04-02T08:00:00"})
    assert naive.json()["errors"][0]["code"] == "extracted_at_invalid"
    odd = api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req), "software": {"name": "X"}})
    assert odd.json()["errors"][0]["code"] == "software_invalid"
    assert api.count("submission") == 0


def test_a_template_file_brings_its_provenance_as_form_fields(api: Api) -> None:
    req = api.create_request()
    content = template_files.workbook([template_files.line(req["galis_ref"], req["siret"], r) for r in rows_for(req)])
    pushed = api.client.post(
        f"/v1/funding-requests/{req['galis_ref']}/submissions", headers=api.auth(api.admin),
        data={"milestone": "va", "software_name": "DUI Facile", "software_version": "4.2.1",
              "extracted_at": "2024-04-02T08:00:00Z"},
        files={"file": (f"mesures-usage-{req['galis_ref']}.xlsx", content,
                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")})
    assert pushed.status_code == 201, pushed.text
    assert pushed.json()["provenance"] == {"software": SOFTWARE, "extracted_at": "2024-04-02T08:00:00Z"}
