"""Bulk onboarding from GALIS's CSV: every error by line and column, nothing stored if any,
the same file twice creating nothing, an ARS within its région only."""

from __future__ import annotations

from typing import Any

from tests import factories
from tests.conftest import Api

HEADER = "galis_ref;siret;porteur_name;campaign_year;finess;name;category"


def csv_of(lines: list[list[str]], header: str = HEADER) -> bytes:
    return ("\n".join([header, *(";".join(line) for line in lines)]) + "\n").encode("utf-8")


def send(api: Api, content: bytes, *, key: str | None = None, **params: Any) -> Any:
    return api.client.post("/v1/funding-requests/imports", params=params, headers=api.auth(key or api.admin),
                           files={"file": ("demandes-galis.csv", content, "text/csv")})


def two_requests() -> tuple[list[list[str]], list[str]]:
    a, b = factories.galis_ref(), factories.galis_ref()
    siret = factories.siret()
    lines = [[a, siret, "Association Les Tilleuls", "2024", factories.finess("33"), "EHPAD Les Tilleuls", "500"],
             [a, siret, "Association Les Tilleuls", "2024", factories.finess("24"), "SSIAD du Périgord", "354"],
             [b, siret, "Association Les Tilleuls", "2023", factories.finess("33"), "IME Les Pins", "183"]]
    return lines, [a, b]


def test_a_valid_file_registers_every_request_at_once_and_again_creates_nothing(api: Api) -> None:
    lines, refs = two_requests()
    content = csv_of(lines)
    checked = send(api, content, dry_run="true")
    assert checked.status_code == 200, checked.text
    assert checked.json()["dry_run"] is True and checked.json()["created"] == 2
    assert api.count("funding_request") == 0  # a dry run stores nothing

    done = send(api, content)
    assert done.status_code == 201, done.text
    assert (done.json()["created"], done.json()["establishments"], sorted(done.json()["requests"])) == (
        2, 3, sorted(refs))
    first = api.client.get(f"/v1/funding-requests/{refs[0]}", headers=api.auth(api.admin)).json()
    assert {e["finess"] for e in first["establishments"]} == {lines[0][4], lines[1][4]}
    assert first["campaign_year"] == 2024 and first["region_code"] == "75"

    again = send(api, content)
    assert again.status_code == 200 and again.json()["created"] == 0
    assert sorted(again.json()["unchanged"]) == sorted(refs)
    assert api.count("funding_request") == 2


def test_every_error_is_named_by_line_and_column_and_nothing_is_stored(api: Api) -> None:
    lines, refs = two_requests()
    lines[1][4] = "330000125"  # a FINESS with a wrong key, line 3, column E
    lines[2][3] = "deux mille"  # a campaign that is no number, line 4, column D
    lines.append([refs[0], lines[0][1], "Autre porteur", "2024", factories.finess("33"), "EHPAD B", "500"])  # line 5
    lines.append(["123", "x"])  # line 6: two columns
    assert api.admin
    before = api.count("funding_request"), api.count("audit_event")
    refused = send(api, csv_of(lines))
    assert refused.status_code == 422, refused.text
    found = [(e["row"], e["column"], e["code"]) for e in refused.json()["errors"]]
    assert found == [(5, "C", "import_request_inconsistent"), (6, None, "import_columns")]  # the form first
    lines = lines[:-2]
    refused = send(api, csv_of(lines))
    found = [(e["row"], e["column"], e["code"]) for e in refused.json()["errors"]]
    assert found == [(3, "E", "finess_checksum"), (4, "D", "not_an_integer")]
    assert (api.count("funding_request"), api.count("audit_event")) == before

    header = send(api, csv_of(lines, header="ref;siret"))
    assert header.status_code == 422 and header.json()["errors"][0]["code"] == "import_header"
    latin1 = send(api, "galis_ref;siret;porteur_name;campaign_year;finess;name;category\n1;2;Été;4;5;6;7\n"
                  .encode("cp1252"))
    assert latin1.status_code == 422 and latin1.json()["errors"][0] == {
        "row": 2, "column": None, "field": None, "code": "file_not_utf8",
        "message": "Fichier attendu en UTF-8 : un octet ne se lit pas (enregistrez le CSV en « UTF-8 »)."}


def test_a_request_already_registered_otherwise_or_a_funded_finess_refuses_the_file(api: Api) -> None:
    lines, refs = two_requests()
    existing = api.create_request(galis_ref=refs[1], va_on=None)
    assert existing["galis_ref"] == refs[1]
    funded = api.create_request(va_on=None)
    lines[0][4] = funded["establishments"][0]["finess"]
    refused = send(api, csv_of(lines))
    assert refused.status_code == 422, refused.text
    found = [(e["row"], e["code"]) for e in refused.json()["errors"]]
    assert found == [(2, "finess_already_funded"), (4, "galis_ref_exists")]
    assert api.count("funding_request") == 2


def test_an_ars_imports_within_its_region_only_and_others_may_not(api: Api) -> None:
    lines, _ = two_requests()
    corse = [factories.galis_ref(), factories.siret(), "Association corse", "2024", factories.finess("2A"),
             "EHPAD Ajaccio", "500"]
    ars = api.key("ars_reviewer", region_code="75")
    refused = send(api, csv_of([*lines, corse]), key=ars)
    assert refused.status_code == 422
    assert [(e["row"], e["code"]) for e in refused.json()["errors"]] == [(5, "region_out_of_scope")]
    assert send(api, csv_of(lines), key=ars).status_code == 201
    for role, scope in (("vendor", {"galis_refs": ["99999999"]}), ("cnsa_auditor", {})):
        forbidden = send(api, csv_of(lines), key=api.key(role, **scope))
        assert forbidden.status_code == 403 and forbidden.json()["code"] == "role_not_allowed"


def test_imports_is_no_request_reference(api: Api) -> None:
    answer = api.client.get("/v1/funding-requests/imports", headers=api.auth(api.admin))
    assert answer.status_code == 405 and answer.headers["allow"] == "POST"
    assert api.client.get("/v1/funding-requests/abc", headers=api.auth(api.admin)).status_code == 404
