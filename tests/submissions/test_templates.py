"""The CNSA Excel template through HTTP: import with every template rule, export, round trip."""

from __future__ import annotations

import csv
import io
import zipfile
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from service.domain.template import SHEET_NAME
from tests import factories, proof_files, template_files
from tests.conftest import Api, make_settings, rows_for
from tests.template_files import LABELS, line, workbook


@dataclass
class Grappe:
    api: Api
    request: dict[str, Any]
    rows: list[dict[str, Any]]

    @property
    def ref(self) -> str:
        return str(self.request["galis_ref"])

    @property
    def siret(self) -> str:
        return str(self.request["siret"])

    def lines(self) -> list[list[Any]]:
        return [line(self.ref, self.siret, r) for r in self.rows]

    def push(self, content: bytes, **kwargs: Any) -> Any:
        return self.api.push_file(self.ref, content, **kwargs)


@pytest.fixture
def grappe(api: Api) -> Grappe:
    """A request of four establishments, the first in the Ain (FINESS with a leading zero)."""
    establishments = [{"finess": factories.finess(dept), "name": f"EHPAD {n}", "category": "500"}
                      for n, dept in enumerate(("01", "26", "38", "69"), start=1)]
    request = api.create_request(establishments=establishments)
    return Grappe(api, request, rows_for(request))


def errors_of(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return response.json()["errors"]  # type: ignore[no-any-return]


def by_code(response: Any) -> dict[str, dict[str, Any]]:
    return {e["code"]: e for e in errors_of(response)}


def where(error: dict[str, Any]) -> str:
    return f"{error['column']}{error['row']}"


class TestImport:
    def test_a_correct_file_is_stored_like_the_same_json_push(self, grappe: Grappe) -> None:
        response = grappe.push(workbook(grappe.lines()))
        assert response.status_code == 201, response.text
        body = response.json()
        assert (body["version"], body["source"], body["milestone"]) == (1, "xlsx", "va")
        assert [r["row"] for r in body["rows"]] == [2, 3, 4, 5]  # the sheet rows
        assert body["rows"][0]["finess"].startswith("01")
        json_push = grappe.api.push(grappe.ref, {"milestone": "va", "rows": grappe.rows})
        assert json_push.status_code == 201
        assert json_push.json()["fingerprint"] == body["fingerprint"]  # the same data, one pipeline
        assert json_push.json()["version"] == 2

    def test_ten_mistakes_are_all_reported_each_at_its_cell_and_nothing_is_stored(self, grappe: Grappe) -> None:
        lines = grappe.lines()
        lines[0][4] = 2.5                                      # E2 not an integer
        lines[0][10] = "2024-01-01"                            # K2 text date not JJ/MM/AAAA
        lines[1][0] = int(grappe.ref[1:])                      # A3 GALIS typed as a number, a digit lost
        lines[1][11] = 45382                                   # L3 a number, not a date
        lines[2][1] = int(grappe.siret[1:])                    # B4 SIRET typed as a number, a digit lost
        lines[2][8] = lines[2][6] + 1                          # I4 > G4
        lines[3][0] = "87654321"                               # A5 another request
        lines[0][2] = int(lines[0][2])                         # C2 FINESS of the Ain lost its leading zero
        lines[3][3] = "=EHPAD"                                 # D5 merged with E5 below
        lines.append(line(grappe.ref, grappe.siret, factories.row(finess=factories.finess("24"))))  # C6 unknown
        content = workbook(lines, merge=["D5:E5"])
        response = grappe.push(content, filename="mesures d'usage.xlsx")  # no GALIS reference in the name
        errors = errors_of(response)
        found = {(e["code"], where(e)) for e in errors if e["row"] is not None}
        assert found >= {
            ("not_an_integer", "E2"), ("invalid_date", "K2"), ("galis_ref_as_number", "A3"),
            ("date_as_number", "L3"), ("siret_as_number", "B4"), ("personal_plan_exceeds_active", "I4"),
            ("galis_ref_mismatch", "A5"), ("finess_leading_zero_lost", "C2"), ("template_merged_cells", "D5"),
            ("finess_not_in_request", "C6"),
        }, errors
        assert "template_filename_without_galis" in {e["code"] for e in errors}
        codes = {e["code"] for e in errors}
        assert len(codes) >= 11
        for e in errors:
            if e["row"] is not None:
                assert e["message"].startswith(f"{where(e)} : "), e
        zero = next(e for e in errors if e["code"] == "finess_leading_zero_lost")
        assert grappe.rows[0]["finess"] in zero["message"] and "texte" in zero["message"]
        assert grappe.api.count("submission") == 0 and grappe.api.count("submission_row") == 0
        assert grappe.push(workbook(grappe.lines())).json()["version"] == 1  # no version number consumed

    def test_missing_sheet_lists_the_sheets_found(self, grappe: Grappe) -> None:
        errors = errors_of(grappe.push(workbook(grappe.lines(), sheet="Feuil1", extra_sheets=["Notice"])))
        assert [e["code"] for e in errors] == ["template_sheet_missing"]
        assert "« Feuil1 »" in errors[0]["message"] and "« Notice »" in errors[0]["message"]

    @pytest.mark.parametrize(("change", "code", "cell", "words"), [
        (lambda h: h.__setitem__(4, "DMP"), "template_column_renamed", "E1",
         ["« DMP »", "« Nombre de DMP alimentés »"]),
        (lambda h: h.__setitem__(slice(4, 6), [h[5], h[4]]), "template_column_out_of_order", "E1",
         ["attendue en E", "se trouve en F"]),
        (lambda h: h.__setitem__(11, None), "template_column_missing", "L1", ["Dernier jour de la période"]),
        (lambda h: h.append("Commentaire"), "template_column_unexpected", "M1", ["« Commentaire »"]),
    ])
    def test_column_labels_must_not_change(self, grappe: Grappe, change: Any, code: str, cell: str,
                                           words: list[str]) -> None:
        header = list(LABELS)
        change(header)
        errors = errors_of(grappe.push(workbook(grappe.lines(), header=header)))
        assert code in {e["code"] for e in errors}
        error = next(e for e in errors if e["code"] == code)
        assert where(error) == cell
        for word in words:
            assert word in error["message"]

    def test_labels_are_compared_without_case_spacing_or_typographic_apostrophes(self, grappe: Grappe) -> None:
        header = [label.upper().replace("'", "\u2019") + "  " for label in LABELS]
        assert grappe.push(workbook(grappe.lines(), header=header)).status_code == 201

    def test_request_columns_a_and_b(self, grappe: Grappe) -> None:
        lines = grappe.lines()
        lines[0][1] = factories.siret()        # a valid SIRET of another porteur
        lines[1][1] = grappe.siret[:-1] + str((int(grappe.siret[-1]) + 1) % 10)  # bad check key
        lines[2][0] = None
        errors = by_code(grappe.push(workbook(lines)))
        assert where(errors["siret_mismatch"]) == "B2"
        assert where(errors["siret_checksum"]) == "B3"
        assert where(errors["field_required"]) == "A4"

    def test_identifiers_typed_as_numbers_with_every_digit_are_read_with_a_warning(self, api: Api) -> None:
        """What LibreOffice writes when columns A–C are not typed as text: nothing is lost."""
        establishments = [{"finess": factories.finess(dept), "name": f"EHPAD {dept}", "category": "500"}
                          for dept in ("26", "38")]
        # A SIRET with no leading zero: as a number it keeps its 14 digits.
        sheet = Grappe(api, api.create_request(establishments=establishments, siret="73282932000074"), [])
        sheet.rows = rows_for(sheet.request)
        lines = [[float(values[0]), float(values[1]), float(values[2]), *values[3:]] for values in sheet.lines()]
        response = sheet.push(workbook(lines, text_columns=""))
        assert response.status_code == 201, response.text
        warnings = {w["code"]: w for w in response.json()["warnings"]}
        for code, cell in (("galis_ref_typed_as_number", "A2"), ("siret_typed_as_number", "B2"),
                           ("finess_typed_as_number", "C2")):
            assert where(warnings[code]) == cell, warnings
            assert warnings[code]["message"].startswith(f"{cell} : ")
            assert "2 cellule(s)" in warnings[code]["message"] and "en texte" in warnings[code]["message"]
        assert [r["finess"] for r in response.json()["rows"]] == [e["finess"] for e in establishments]
        stored = api.client.get(f"/v1/submissions/{response.json()['id']}", headers=api.auth(api.admin)).json()
        assert {w["code"] for w in stored["warnings"]} >= set(warnings)
        same = api.push(sheet.ref, {"milestone": "va", "rows": sheet.rows})
        assert same.json()["fingerprint"] == response.json()["fingerprint"]

    def test_a_finess_typed_as_a_number_that_lost_digits_is_refused(self, grappe: Grappe) -> None:
        lines = grappe.lines()
        lines[1][2] = int(lines[1][2][2:])  # 7 digits: not a FINESS any more
        errors = by_code(grappe.push(workbook(lines)))
        assert where(errors["finess_as_number"]) == "C3"

    def test_a_refused_or_empty_finess_cell_is_not_reported_again_as_missing(self, grappe: Grappe) -> None:
        lines = grappe.lines()
        lines[0][2] = int(lines[0][2])  # the Ain FINESS lost its leading zero
        lines[1][2] = None              # left empty
        errors = errors_of(grappe.push(workbook(lines)))
        found = {(e["code"], e["row"] and where(e)) for e in errors}
        assert found == {("finess_leading_zero_lost", "C2"), ("field_required", "C3")}, errors

    def test_an_establishment_left_out_is_still_reported_beside_a_refused_cell(self, grappe: Grappe) -> None:
        lines = grappe.lines()[:3]      # the fourth establishment left out
        lines[0][2] = int(lines[0][2])  # and a cell refused: it cannot be both missing ones
        errors = errors_of(grappe.push(workbook(lines)))
        missing = [e for e in errors if e["code"] == "finess_missing"]
        assert any(grappe.rows[3]["finess"] in e["message"] for e in missing), errors

    def test_a_finess_typed_as_eight_digit_text_is_not_silently_repaired(self, grappe: Grappe) -> None:
        lines = grappe.lines()
        lines[0][2] = lines[0][2][1:]
        errors = by_code(grappe.push(workbook(lines)))
        assert where(errors["finess_leading_zero_lost"]) == "C2"

    @pytest.mark.parametrize("start", [date(2024, 1, 1), datetime(2024, 1, 1), "01/01/2024", "1/1/2024"])
    def test_dates_as_excel_dates_or_french_text(self, grappe: Grappe, start: Any) -> None:
        lines = grappe.lines()
        for values in lines:
            values[10] = start
        response = grappe.push(workbook(lines))
        assert response.status_code == 201, response.text
        assert {r["period_start"] for r in response.json()["rows"]} == {"2024-01-01"}

    @pytest.mark.parametrize(("value", "code"), [
        ("2024-01-01", "invalid_date"), ("janvier 2024", "invalid_date"), ("31/02/2024", "invalid_date"),
        (45292, "date_as_number"), (datetime(2024, 1, 1, 14, 30), "date_with_time"), (True, "invalid_date"),
    ])
    def test_anything_else_in_a_date_column_is_refused(self, grappe: Grappe, value: Any, code: str) -> None:
        lines = grappe.lines()
        lines[2][10] = value
        errors = errors_of(grappe.push(workbook(lines)))
        assert [(e["code"], where(e)) for e in errors] == [(code, "K4")]

    def test_counts_stored_as_text_are_read_and_non_numbers_refused(self, grappe: Grappe) -> None:
        lines = grappe.lines()
        lines[0][4] = "40"
        lines[1][5] = "beaucoup"
        lines[2][6] = -3
        errors = errors_of(grappe.push(workbook(lines)))
        assert [(e["code"], where(e)) for e in errors] == [("not_an_integer", "F3"), ("negative_count", "G4")]

    def test_empty_trailing_rows_are_ignored(self, grappe: Grappe) -> None:
        lines = [*grappe.lines(), [None] * 12, ["", "  ", None, None]]
        response = grappe.push(workbook(lines, blank_formatted_rows=40))
        assert response.status_code == 201, response.text
        assert response.json()["rows"][-1]["row"] == 5

    def test_a_formula_is_read_by_its_value(self, grappe: Grappe) -> None:
        lines = grappe.lines()
        response = grappe.push(workbook(lines, formulas={"E2": ("=20+20", 40), "H3": ("=SUM(G3:G3)+5", 100)}))
        assert response.status_code == 201, response.text
        rows = response.json()["rows"]
        assert rows[0]["dmp_fed"] == 40 and rows[1]["persons_accompanied"] == 100

    def test_a_formula_never_computed_is_reported_as_an_empty_cell(self, grappe: Grappe) -> None:
        errors = errors_of(grappe.push(workbook(grappe.lines(), formulas={"G2": ("=H2", None)})))
        assert [(e["code"], where(e)) for e in errors] == [("field_required", "G2")]

    def test_a_sheet_with_no_establishment_row(self, grappe: Grappe) -> None:
        errors = errors_of(grappe.push(workbook([])))
        assert [e["code"] for e in errors] == ["template_no_rows"]

    def test_milestone_and_file_fields_are_required(self, grappe: Grappe) -> None:
        errors = by_code(grappe.push(workbook(grappe.lines()), milestone=None))
        assert errors["milestone_invalid"]["field"] == "milestone"
        response = grappe.api.client.post(f"/v1/funding-requests/{grappe.ref}/submissions", data={"milestone": "va"},
                                          files={"other": ("x.txt", b"x")},
                                          headers=grappe.api.auth(grappe.api.admin))
        assert response.status_code in (400, 422)

    def test_dry_run_and_idempotency_work_as_for_json(self, grappe: Grappe) -> None:
        content = workbook(grappe.lines())
        dry = grappe.push(content, dry_run="true")
        assert dry.status_code == 200 and dry.json()["status"] == "dry_run"
        key = {"Idempotency-Key": "fichier-2024-04"}
        first = grappe.push(content, headers=key)
        again = grappe.push(content, headers=key)
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json()["id"] == first.json()["id"]
        assert grappe.api.count("submission") == 1


class TestRefusedFiles:
    @pytest.mark.parametrize(("content", "code"), [
        (b"Reference de la demande GALIS;SIRET Porteur\n12345678;73282932000074\n", "template_format_csv"),
        (proof_files.legacy_xls(), "template_format_xls"),
        (template_files.ods(), "template_format_ods"),
        (proof_files.pdf(), "template_format_pdf"),
        (proof_files.docx(), "template_format_unknown"),
        (proof_files.png(), "template_format_unknown"),
    ])
    def test_what_is_not_an_xlsx_is_refused_by_content(self, grappe: Grappe, content: bytes, code: str) -> None:
        response = grappe.push(content)
        assert response.status_code == 415, response.text
        problem = response.json()
        assert problem["code"] == code and ".xlsx" in problem["detail"]
        assert grappe.api.count("submission") == 0

    def test_a_truncated_workbook_is_refused(self, grappe: Grappe) -> None:
        content = workbook(grappe.lines())
        response = grappe.push(content[: len(content) // 2])
        assert response.status_code == 422
        assert response.json()["code"] == "template_corrupt"

    def test_the_caller_scope_is_checked_before_the_file(self, grappe: Grappe) -> None:
        other = grappe.api.key("vendor", galis_refs=[factories.galis_ref()])
        assert grappe.push(b"not even a file", key=other).status_code == 404
        reviewer = grappe.api.key("ars_reviewer", region_code="75")
        assert grappe.push(workbook(grappe.lines()), key=reviewer).status_code in (403, 404)


@pytest.fixture
def storage_settings(tmp_path: Any) -> dict[str, Any]:
    return {"storage_dir": tmp_path / "proofs", "max_template_bytes": 200_000,
            "max_template_uncompressed_bytes": 2_000_000, "max_rows": 6}


class TestBounds:
    def test_file_size(self, grappe: Grappe) -> None:
        response = grappe.push(workbook(grappe.lines()) + b"\0" * 200_001)
        assert response.status_code == 413 and response.json()["code"] == "template_too_large"

    def test_uncompressed_size_is_bounded_before_parsing(self, grappe: Grappe) -> None:
        content = template_files.inflating(workbook(grappe.lines()), 3_000_000)
        assert len(content) < 200_000
        response = grappe.push(content)
        assert response.status_code == 413 and response.json()["code"] == "template_uncompressed_too_large"

    def test_row_limit(self, grappe: Grappe) -> None:
        lines = grappe.lines() * 2
        errors = errors_of(grappe.push(workbook(lines)))
        assert [(e["code"], where(e)) for e in errors] == [("too_many_rows", "A8")]

    def test_settings_are_the_configured_ones(self) -> None:
        assert make_settings("sqlite://", max_rows=6).max_rows == 6


def read_xlsx(content: bytes) -> Any:
    return load_workbook(io.BytesIO(content))


class TestExport:
    def test_a_version_exports_in_the_template_and_reimports_identically(self, grappe: Grappe) -> None:
        pushed = grappe.api.push(grappe.ref, {"milestone": "va", "rows": grappe.rows})
        assert pushed.status_code == 201
        exported = grappe.api.client.get(f"/v1/submissions/{pushed.json()['id']}.xlsx",
                                         headers=grappe.api.auth(grappe.api.admin))
        assert exported.status_code == 200
        assert exported.headers["content-type"].startswith("application/vnd.openxmlformats")
        filename = f"mesures-usage-{grappe.ref}-va-v1.xlsx"
        assert filename in exported.headers["content-disposition"]
        book = read_xlsx(exported.content)
        assert book.sheetnames[0] == SHEET_NAME and len(book.sheetnames) == 2
        sheet = book[SHEET_NAME]
        assert [c.value for c in sheet[1]] == LABELS
        first = sheet[2]
        assert first[2].value == grappe.rows[0]["finess"] and first[2].value.startswith("01")
        for cell in first[:3]:
            assert cell.data_type == "s" and cell.number_format == "@"
        assert first[10].is_date and first[10].number_format == "DD/MM/YYYY"
        rates = book.worksheets[1]
        assert "Taux de dossiers actifs (%)" in [c.value for c in rates[1]]

        again = grappe.api.push_file(grappe.ref, exported.content, filename=filename)
        assert again.status_code == 201, again.text
        assert again.json()["fingerprint"] == pushed.json()["fingerprint"]
        strip = [{k: v for k, v in r.items() if k != "row"} for r in again.json()["rows"]]
        assert strip == [{k: v for k, v in r.items() if k != "row"} for r in pushed.json()["rows"]]

    def test_a_name_that_looks_like_a_formula_stays_text(self, grappe: Grappe) -> None:
        rows = [dict(r) for r in grappe.rows]
        rows[0]["raison_sociale"] = "=HYPERLINK(\"http://example.org\")"
        pushed = grappe.api.push(grappe.ref, {"milestone": "va", "rows": rows})
        assert pushed.status_code == 201
        auth = grappe.api.auth(grappe.api.admin)
        sheet = read_xlsx(grappe.api.client.get(f"/v1/submissions/{pushed.json()['id']}.xlsx", headers=auth).content)
        assert sheet[SHEET_NAME]["D2"].data_type == "s"
        text = grappe.api.client.get(f"/v1/submissions/{pushed.json()['id']}.csv", headers=auth).content.decode()
        assert "'=HYPERLINK" in text

    def test_csv_is_french_spreadsheet_friendly(self, grappe: Grappe) -> None:
        pushed = grappe.api.push(grappe.ref, {"milestone": "va", "rows": grappe.rows})
        response = grappe.api.client.get(f"/v1/submissions/{pushed.json()['id']}.csv",
                                         headers=grappe.api.auth(grappe.api.admin))
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
        assert response.content.startswith(b"\xef\xbb\xbf")
        table = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))
        assert table[0] == LABELS
        assert table[1][:3] == [grappe.ref, grappe.siret, grappe.rows[0]["finess"]]
        assert table[1][10:] == ["01/01/2024", "31/03/2024"]
        assert len(table) == 5

    def test_latest_versions_in_the_caller_scope(self, api: Api) -> None:
        paris = api.create_request(establishments=[{"finess": factories.finess("75"), "name": "Paris"}])
        corse = api.create_request(establishments=[{"finess": factories.finess("2A"), "name": "Ajaccio"}])
        for req in (paris, corse):
            assert api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req, dmp_fed=10)}).status_code == 201
        assert api.push(paris["galis_ref"], {"milestone": "va", "rows": rows_for(paris)}).status_code == 201

        def export(key: str, **params: str) -> list[list[str]]:
            response = api.client.get("/v1/exports/submissions.csv", params={"milestone": "va", **params},
                                      headers=api.auth(key))
            assert response.status_code == 200, response.text
            return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig")), delimiter=";"))[1:]

        national = export(api.key("cnsa_auditor"))
        assert {r[0] for r in national} == {paris["galis_ref"], corse["galis_ref"]}
        assert next(r for r in national if r[0] == paris["galis_ref"])[4] == "40"  # the latest version only
        assert len(national) == 2
        assert {r[0] for r in export(api.key("ars_reviewer", region_code="11"))} == {paris["galis_ref"]}
        assert {r[0] for r in export(api.key("cnsa_auditor"), region="94")} == {corse["galis_ref"]}
        assert export(api.key("cnsa_auditor"), region="84") == []
        sheet = read_xlsx(api.client.get("/v1/exports/submissions.xlsx", params={"milestone": "va"},
                                         headers=api.auth(api.key("porteur", siret=corse["siret"]))).content)
        assert [c.value for c in sheet[SHEET_NAME]["A"]][1:] == [corse["galis_ref"]]

    def test_milestone_is_required_and_region_checked(self, api: Api) -> None:
        auth = api.auth(api.key("cnsa_auditor"))
        assert api.client.get("/v1/exports/submissions.csv", headers=auth).status_code == 422
        response = api.client.get("/v1/exports/submissions.csv", params={"milestone": "va", "region": "99"},
                                  headers=auth)
        assert response.status_code == 422 and response.json()["errors"][0]["code"] == "region_unknown"


def _with_sheet_xml(content: bytes, extra: bytes, *, compression: int = zipfile.ZIP_DEFLATED,
                    encrypted_flag: bool = False) -> bytes:
    source = zipfile.ZipFile(io.BytesIO(content))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as target:
        for info in source.infolist():
            data = source.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"</sheetData>", extra + b"</sheetData>")
            member = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            member.compress_type = compression
            target.writestr(member, data)
    raw = bytearray(out.getvalue())
    if encrypted_flag:  # the "encrypted" bit of the first entry, as a password-protected zip has it
        raw[6] |= 0x01  # local header
        raw[raw.index(b"PK\x01\x02") + 8] |= 0x01  # central directory
    return bytes(raw)


class TestHostileFiles:
    @pytest.mark.parametrize(("extra", "cell"), [
        (b'<row r="1048576"><c r="XFD1048576"><v>1</v></c></row>', "XFD1048576"),
        (b'<row r="9">' + b"<c><v>1</v></c>" * 70 + b"</row>", "BM9"),  # cells without r= follow each other
        (b'<row r="900000"><c><v>1</v></c></row>', "A900000"),
    ])
    def test_a_value_far_beyond_the_table_is_refused_before_reading(self, grappe: Grappe, extra: bytes,
                                                                    cell: str) -> None:
        response = grappe.push(_with_sheet_xml(workbook(grappe.lines()), extra))
        errors = errors_of(response)
        assert errors[0]["code"] == "template_cell_out_of_range" and errors[0]["message"].startswith(cell)

    def test_formatted_empty_cells_far_below_are_harmless(self, grappe: Grappe) -> None:
        content = _with_sheet_xml(workbook(grappe.lines()), b'<row r="900000"><c r="A900000" s="1"/></row>')
        assert grappe.push(content).status_code == 201

    def test_an_encrypted_member_or_an_unusual_compression_is_refused_cleanly(self, grappe: Grappe) -> None:
        encrypted = grappe.push(_with_sheet_xml(workbook(grappe.lines()), b"", encrypted_flag=True))
        assert encrypted.status_code == 415 and encrypted.json()["code"] == "template_format_xls"
        bzip = grappe.push(_with_sheet_xml(workbook(grappe.lines()), b"", compression=zipfile.ZIP_BZIP2))
        assert bzip.status_code == 422 and bzip.json()["code"] == "template_corrupt"

    def test_a_huge_mimetype_entry_is_not_inflated(self, grappe: Grappe) -> None:
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("mimetype", b"\0" * 50_000_000)
            archive.writestr("[Content_Types].xml", "<Types/>")
            archive.writestr("xl/workbook.xml", "<workbook/>")
        response = grappe.push(out.getvalue())
        assert response.status_code == 413 and response.json()["code"] == "template_uncompressed_too_large"

    def test_names_an_xlsx_cannot_hold_are_refused_and_old_ones_exported_safely(self, grappe: Grappe) -> None:
        rows = [dict(r) for r in grappe.rows]
        rows[0]["raison_sociale"] = "EHPAD\ufffeX"
        refused = grappe.api.push(grappe.ref, {"milestone": "va", "rows": rows})
        assert errors_of(refused)[0]["code"] == "text_invalid_characters"
        pushed = grappe.api.push(grappe.ref, {"milestone": "va", "rows": grappe.rows}).json()
        with grappe.api.database.engine.begin() as conn:  # a name stored before the rule existed
            conn.execute(sa.text("UPDATE submission_row SET raison_sociale = :n WHERE submission_id = :s"),
                         {"n": "EHPAD\x01X", "s": pushed["id"]})
        exported = grappe.api.client.get(f"/v1/submissions/{pushed['id']}.xlsx",
                                         headers=grappe.api.auth(grappe.api.admin))
        assert exported.status_code == 200
        assert read_xlsx(exported.content)[SHEET_NAME]["D2"].value == "EHPAD\ufffdX"


def test_cells_keep_their_address_when_the_first_row_or_column_is_empty(grappe: Grappe) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = SHEET_NAME
    ws.append([])  # row 1 left empty: the labels sit on row 2
    ws.append(LABELS)
    for values in grappe.lines():
        ws.append(values)
    buffer = io.BytesIO()
    wb.save(buffer)
    errors = errors_of(grappe.push(buffer.getvalue()))
    assert {(e["code"], e["column"], e["row"]) for e in errors} >= {("template_column_missing", "A", 1)}
    ws.delete_rows(1)
    ws.insert_cols(1)  # column A left empty: the labels start in B
    buffer = io.BytesIO()
    wb.save(buffer)
    shifted = errors_of(grappe.push(buffer.getvalue()))
    assert ("template_column_out_of_order", "A", 1) in {(e["code"], e["column"], e["row"]) for e in shifted}
