"""Importing the public FINESS extract: the real format (Windows-1252, accents, quotes, Corsican
and overseas FINESS), snapshots that close what disappeared, all-or-nothing, idempotent."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest

from service.domain.errors import ValidationFailed
from service.domain.finess_extract import parse_header, parse_records, region_of_department
from tests import factories
from tests.conftest import Api
from tests.registry.extracts import Et, extract, record
from tests.test_cli import run_cli


def upload(api: Api, content: bytes, *, key: str | None = None, name: str = "etalab-cs1100507-stock.csv") -> Any:
    return api.client.post("/v1/registry/finess-imports", files={"file": (name, content, "text/csv")},
                           headers=api.auth(key or api.admin))


def registry(api: Api, finess: str) -> Any:
    return api.client.get(f"/v1/registry/finess/{finess}", headers=api.auth(api.admin))


def establishments() -> dict[str, Et]:
    return {
        "ehpad": Et(factories.finess("33"), 'EHPAD "Les Œillets" ; résidence', "33"),
        "corse": Et(factories.finess("2A"), "SSIAD de l'Île-Rousse", "2A", category="354",
                    category_label="Service de soins infirmiers à domicile", siret="73282932000074"),
        "guadeloupe": Et(factories.finess("9701"), "EHPAD Bélair", "9A"),
        "mayotte": Et(factories.finess("9805"), "IME de Mamoudzou", "9F", category="183",
                      category_label="Institut médico-éducatif (I.M.E.)"),
    }


def test_a_real_format_extract_in_windows_1252_imports_with_its_accents_quotes_and_regions(api: Api) -> None:
    ets = establishments()
    content = extract(list(ets.values()))
    response = upload(api, content)
    assert response.status_code == 201, response.text
    snapshot = response.json()
    assert snapshot["encoding"] == "cp1252" and snapshot["extracted_on"] == "2026-11-30"
    assert snapshot["sha256"] == hashlib.sha256(content).hexdigest() and snapshot["size"] == len(content)
    assert (snapshot["establishments"], snapshot["added"], snapshot["closed"], snapshot["reopened"]) == (4, 4, 0, 0)

    ehpad = registry(api, ets["ehpad"].finess).json()
    assert ehpad["name"] == 'EHPAD "Les Œillets" ; résidence'
    assert ehpad["category"] == {"code": "500", "label": "Etablissement d'hébergement pour personnes âgées "
                                                         "dépendantes"}
    assert (ehpad["department"], ehpad["region_code"], ehpad["status"]) == ("33", "75", "open")
    assert ehpad["opened_on"] == "2001-05-01" and ehpad["first_seen_on"] == "2026-11-30"
    corse = registry(api, ets["corse"].finess).json()
    assert (corse["department"], corse["region_code"], corse["siret"]) == ("2A", "94", "73282932000074")
    assert corse["name"] == "SSIAD de l'Île-Rousse"
    assert registry(api, ets["guadeloupe"].finess).json()["region_code"] == "01"
    assert registry(api, ets["mayotte"].finess).json()["region_code"] == "06"
    unknown = registry(api, factories.finess("33"))
    assert unknown.status_code == 404 and unknown.json()["code"] == "finess_not_in_registry"

    again = upload(api, content, name="le-meme.csv")
    assert again.status_code == 200 and again.json()["id"] == snapshot["id"]
    listed = api.client.get("/v1/registry/finess-imports", headers=api.auth(api.admin)).json()["items"]
    assert [s["id"] for s in listed] == [snapshot["id"]]
    events = api.client.get("/v1/audit-events", params={"limit": 500}, headers=api.auth(api.admin)).json()["items"]
    assert [e["payload"]["sha256"] for e in events if e["action"] == "finess_snapshot_imported"] == [snapshot["sha256"]]


def test_utf8_with_or_without_bom_is_read_as_utf8(api: Api) -> None:
    ets = establishments()
    for n, bom in enumerate((True, False)):
        response = upload(api, extract([ets["ehpad"]], day=f"2026-12-0{n + 1}", encoding="utf-8", bom=bom))
        assert response.status_code == 201, response.text
        assert response.json()["encoding"] == "utf-8"
    assert registry(api, ets["ehpad"].finess).json()["name"] == 'EHPAD "Les Œillets" ; résidence'


def test_a_finess_listed_twice_is_one_establishment_with_its_last_record(api: Api) -> None:
    ets = establishments()
    first = Et(ets["ehpad"].finess, "EHPAD Les Œillets (ancien nom)", "33")
    response = upload(api, extract([first, ets["corse"], ets["ehpad"]]))
    assert response.status_code == 201, response.text
    snapshot = response.json()
    assert (snapshot["establishments"], snapshot["added"], snapshot["closed"]) == (2, 2, 0)
    assert registry(api, first.finess).json()["name"] == 'EHPAD "Les Œillets" ; résidence'


def test_a_newer_snapshot_closes_what_disappeared_and_reopens_what_came_back(api: Api) -> None:
    ets = establishments()
    assert upload(api, extract(list(ets.values()), day="2026-06-30")).status_code == 201
    second = upload(api, extract([ets["ehpad"], ets["corse"]], day="2026-09-30")).json()
    assert (second["establishments"], second["added"], second["closed"], second["reopened"]) == (2, 0, 2, 0)
    gone = registry(api, ets["mayotte"].finess).json()
    assert gone["status"] == "closed" and gone["closed_on"] == "2026-09-30" and gone["last_seen_on"] == "2026-06-30"
    renamed = Et(ets["ehpad"].finess, "EHPAD Les Œillets (rénové)", "33")
    third = upload(api, extract([renamed, ets["corse"], ets["mayotte"]], day="2026-11-30")).json()
    assert (third["added"], third["closed"], third["reopened"]) == (0, 0, 1)
    back = registry(api, ets["mayotte"].finess).json()
    assert back["status"] == "open" and back["closed_on"] is None and back["first_seen_on"] == "2026-06-30"
    assert registry(api, ets["ehpad"].finess).json()["name"] == "EHPAD Les Œillets (rénové)"
    assert registry(api, ets["guadeloupe"].finess).json()["status"] == "closed"

    older = upload(api, extract([ets["ehpad"]], day="2026-10-31"))
    assert older.status_code == 409 and older.json()["code"] == "finess_snapshot_older"


def test_a_malformed_record_refuses_the_whole_file_by_line_and_stores_nothing(api: Api) -> None:
    ets = establishments()
    short = ";".join(record(ets["corse"])[:20]) + ";"
    bad_finess = ";".join(["structureet", "12345", *record(ets["ehpad"])[2:]]) + ";"
    content = extract([ets["ehpad"]], extra_lines=[short, bad_finess])
    assert api.admin  # its key (an audit event) before counting
    before = api.count("registry_establishment"), api.count("finess_snapshot"), api.count("audit_event")
    response = upload(api, content)
    assert response.status_code == 422, response.text
    issues = [(e["row"], e["code"]) for e in response.json()["errors"]]
    assert issues == [(4, "finess_extract_record"), (5, "finess_extract_record")]  # header 1, ET 2, geo 3
    assert "20 champs au lieu de 32" in response.json()["errors"][0]["message"]
    assert (api.count("registry_establishment"), api.count("finess_snapshot"), api.count("audit_event")) == before

    header = upload(api, b"nofinesset;nofinessej\n010000024;010780054\n")
    assert header.status_code == 422 and header.json()["errors"][0]["code"] == "finess_extract_header"
    assert upload(api, extract([ets["ehpad"]]), key=api.key("cnsa_auditor")).status_code == 403


def test_the_command_line_imports_and_says_what_it_did(database_url: str, tmp_path: Path) -> None:
    ets = establishments()
    path = tmp_path / "etalab-cs1100507-stock-20261130-0336.csv"
    path.write_bytes(extract(list(ets.values())))
    done = run_cli(database_url, "finess", "import", str(path))
    assert done.returncode == 0, done.stderr
    assert "4 établissement(s), 4 nouveau(x), 0 fermé(s)" in done.stdout and "cp1252" in done.stdout
    again = run_cli(database_url, "finess", "import", str(path))
    assert again.returncode == 0 and "déjà importé" in again.stdout
    broken = tmp_path / "broken.csv"
    broken.write_bytes(extract([ets["ehpad"]], day="2026-12-01", extra_lines=["structureet;123;"]))
    refused = run_cli(database_url, "finess", "import", str(broken))
    assert refused.returncode == 1 and "ligne 4" in refused.stderr and "Rien n'a été importé" in refused.stderr


def test_the_extract_parser_on_its_own() -> None:
    assert parse_header("\ufefffinesss;etalab;95;2026-11-30".replace("finesss", "finess")).version == 95
    with pytest.raises(ValidationFailed):
        parse_header("finess;etalab;95;2026-13-40")
    ets = establishments()
    lines = extract(list(ets.values()), encoding="utf-8").decode().splitlines(keepends=True)[1:]
    parsed = list(parse_records(lines))
    assert [e.finess for e in parsed] == [et.finess for et in ets.values()]
    assert [e.region_code for e in parsed] == ["75", "94", "01", "06"]
    assert region_of_department("9E") is None and region_of_department("2B") == "94"
