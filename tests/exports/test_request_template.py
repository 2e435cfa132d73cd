"""The CNSA template pre-filled for a request: what a porteur downloads, fills in a spreadsheet
and sends back (read with openpyxl as a spreadsheet would, and with the service's own reader)."""

from __future__ import annotations

import io
from datetime import date

import python_calamine
from openpyxl import load_workbook

from service.domain.template import SHEET_NAME, TEMPLATE_COLUMNS
from service.exports.files import XLSX_MEDIA_TYPE
from tests import factories
from tests.conftest import Api


def test_the_template_is_pre_filled_filled_in_a_spreadsheet_and_sent_back(api: Api) -> None:
    req = api.create_request(establishments=[
        {"finess": factories.finess("01"), "name": "EHPAD Les Tilleuls", "category": "500"},
        {"finess": factories.finess("01"), "name": "SSIAD du Bugey", "category": "354"}])
    ref = req["galis_ref"]
    porteur = api.key("porteur", siret=req["siret"])

    answer = api.client.get(f"/v1/funding-requests/{ref}/template.xlsx", headers=api.auth(porteur))

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == XLSX_MEDIA_TYPE
    assert f'filename="modele-mesures-usage-{ref}.xlsx"' in answer.headers["content-disposition"]
    book = load_workbook(io.BytesIO(answer.content))
    assert book.sheetnames == [SHEET_NAME, "Notice"]
    sheet = book[SHEET_NAME]
    assert [c.value for c in sheet[1]] == [label for _, _, label in TEMPLATE_COLUMNS]
    expected = sorted((e["finess"], e["name"]) for e in req["establishments"])
    assert [tuple(c.value for c in row[:4]) for row in sheet.iter_rows(min_row=2)] == \
        [(ref, req["siret"], finess, name) for finess, name in expected]
    assert all(c.value is None for row in sheet.iter_rows(min_row=2) for c in row[4:])
    assert {sheet[f"{col}2"].number_format for col in "ABC"} == {"@"} and sheet["K2"].number_format == "DD/MM/YYYY"
    assert expected[0][0].startswith("01")  # the leading zero kept: text, not a number
    checks = {str(v.sqref): (v.type, v.operator, v.formula1) for v in sheet.data_validations.dataValidation}
    assert checks == {"E2:J3": ("whole", "greaterThanOrEqual", "0"), "K2:L3": ("date", "greaterThan", "36526")}
    notice = " ".join(str(row[0].value) for row in book["Notice"].iter_rows())
    assert ref in notice and req["siret"] in notice and "48 heures" in notice
    read = python_calamine.CalamineWorkbook.from_filelike(io.BytesIO(answer.content)) \
        .get_sheet_by_name(SHEET_NAME).to_python()
    assert read[1][:3] == [ref, req["siret"], expected[0][0]]

    # sent back unfilled: every empty cell is named, nothing is stored
    empty = api.push_file(ref, answer.content, key=porteur)
    assert empty.status_code == 422
    assert {"E2", "G3", "K2", "L3"} <= {f"{i['column']}{i['row']}" for i in empty.json()["errors"]}
    assert api.count("submission") == 0

    # filled as a spreadsheet user would: the same lines come back as the version's rows
    for number in (2, 3):
        for letter, value in zip("EFGHIJ", (40, 120, 95, 100, 90, 93), strict=True):
            sheet[f"{letter}{number}"] = value
        sheet[f"K{number}"], sheet[f"L{number}"] = date(2024, 1, 1), date(2024, 3, 31)
    filled = io.BytesIO()
    book.save(filled)
    stored = api.push_file(ref, filled.getvalue(), key=porteur)
    assert stored.status_code == 201, stored.text
    assert [(r["finess"], r["raison_sociale"], r["active_dui"], r["period_end"]) for r in stored.json()["rows"]] == \
        [(finess, name, 95, "2024-03-31") for finess, name in expected]


def test_the_template_of_a_request_out_of_sight_is_not_found(api: Api) -> None:
    req = api.create_request()
    other = api.key("porteur", siret=factories.siret())
    vendor = api.key("vendor")
    for key in (other, vendor):
        answer = api.client.get(f"/v1/funding-requests/{req['galis_ref']}/template.xlsx", headers=api.auth(key))
        assert answer.status_code == 404 and answer.json()["code"] == "funding_request_not_found"
    assert api.client.get(f"/v1/funding-requests/{req['galis_ref']}/template.xlsx").status_code == 401
