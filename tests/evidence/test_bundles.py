"""Evidence bundles as an auditor receives them: validated by the BagIt reference implementation
(``bagit``), each proof's bytes the stored bytes, the log's proofs checked as an outsider would,
the chain of custody of every read; a corrupt proof never in a bag."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import bagit
import openpyxl
import pytest

from tests import factories, proof_files
from tests.conftest import Api, rows_for
from tests.log.test_verifiable_log import checkpoint_of, included

ROUTE = "GET /v1/submissions/{submission_id}/evidence.zip"


def story(api: Api) -> dict[str, Any]:
    """A fin de projet version of two establishments with a PDF and a PNG proof, accepted by the
    ARS; the log sequenced."""
    establishments = [{"finess": factories.finess("33"), "name": "EHPAD Les Tilleuls", "category": "500"},
                      {"finess": factories.finess("33"), "name": "SSIAD du Médoc", "category": "354"}]
    vsr_on = (datetime.now(UTC).date() - timedelta(days=30)).isoformat()
    req = api.create_request(vsr_on=vsr_on, establishments=establishments)
    vendor = api.key("vendor", galis_refs=[req["galis_ref"]], label="Éditeur DUI")
    pushed = api.push(req["galis_ref"], {"milestone": "fin_projet", "rows": rows_for(req)}, key=vendor)
    assert pushed.status_code == 201, pushed.text
    version = pushed.json()
    files = {establishments[0]["finess"]: (proof_files.pdf(), "rapport.pdf", "application/pdf"),
             establishments[1]["finess"]: (proof_files.png(), "capture.png", "image/png")}
    proofs = {}
    for finess, (content, name, media) in files.items():
        uploaded = api.upload_proof(version["id"], content, key=vendor, finess=finess, filename=name,
                                    content_type=media)
        assert uploaded.status_code == 201, uploaded.text
        proofs[uploaded.json()["id"]] = content
    ars = api.auth(api.key("ars_reviewer", region_code="75", label="ARS Nouvelle-Aquitaine"))
    decided = api.client.post(f"/v1/submissions/{version['id']}/reviews", json={"decision": "accepted"}, headers=ars)
    assert decided.status_code == 201, decided.text
    api.sequence()
    return {"req": req, "version": version, "proofs": proofs, "vendor": vendor}


def unzip(content: bytes, where: Path) -> tuple[Path, list[str]]:
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        assert archive.testzip() is None  # every entry's CRC-32 holds
        names = archive.namelist()
        archive.extractall(where)
    tops = {name.split("/", 1)[0] for name in names}
    assert len(tops) == 1, tops
    return where / tops.pop(), names


def validated(bag_dir: Path) -> bagit.Bag:
    bag = bagit.Bag(str(bag_dir))
    bag.validate(fast=False)  # every manifest entry, every file, both algorithms, the tag manifest
    return bag


def test_a_version_bundle_validates_with_bagit_and_carries_what_the_api_serves(api: Api, tmp_path: Path) -> None:
    told = story(api)
    version, req = told["version"], told["req"]
    cnsa = api.auth(api.key("cnsa_auditor", label="Auditrice CNSA"))
    response = api.client.get(f"/v1/submissions/{version['id']}/evidence.zip", headers=cnsa)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    top = f"evidence-{req['galis_ref']}-fin_projet-v{version['version']}"
    assert f"{top}.zip" in response.headers["content-disposition"]
    bag_dir, names = unzip(response.content, tmp_path)
    assert bag_dir.name == top
    bag = validated(bag_dir)

    # the tag files first, then data/ in path order: the same order on every call
    inner = [n.split("/", 1)[1] for n in names]
    assert inner[:5] == ["bagit.txt", "bag-info.txt", "manifest-sha256.txt", "manifest-sha512.txt",
                         "tagmanifest-sha256.txt"]
    assert inner[5:] == sorted(inner[5:])
    assert set(bag.algorithms) == {"sha256", "sha512"}
    assert bag.info["External-Identifier"] == version["id"]
    assert bag.info["Source-Organization"].startswith("CNSA")
    assert bag.info["Bagging-Date"] == datetime.now(UTC).date().isoformat()
    payload = {p.relative_to(bag_dir / "data").as_posix() for p in (bag_dir / "data").rglob("*") if p.is_file()}
    assert bag.info["Payload-Oxum"] == f"{sum((bag_dir / 'data' / p).stat().st_size for p in payload)}.{len(payload)}"
    expected_proofs = {f"proofs/{hashlib.sha256(c).hexdigest()}.{'pdf' if c.startswith(b'%PDF') else 'png'}"
                       for c in told["proofs"].values()}
    assert payload == {"submission.json", "declaration.xlsx", "report.pdf", "proofs.json", "audit-events.json",
                       "log/checkpoint.txt", "log/inclusion-proofs.json", *expected_proofs}

    # each proof's bytes are the stored bytes, byte for byte
    for content in told["proofs"].values():
        digest = hashlib.sha256(content).hexdigest()
        stored = next((bag_dir / "data" / "proofs").glob(f"{digest}.*")).read_bytes()
        assert stored == content

    # the version as the API serves it, its template file and its signed report
    data = bag_dir / "data"
    assert json.loads((data / "submission.json").read_text("utf-8")) == \
        api.client.get(f"/v1/submissions/{version['id']}", headers=cnsa).json()
    sheet = openpyxl.load_workbook(data / "declaration.xlsx", read_only=True).worksheets[0]
    cells = {str(c) for row in sheet.iter_rows(values_only=True) for c in row if c is not None}
    assert {e["finess"] for e in req["establishments"]} <= cells
    checked = api.client.post("/v1/reports/verify", headers=cnsa,
                              files={"file": ("report.pdf", (data / "report.pdf").read_bytes(), "application/pdf")})
    assert checked.json()["valid"] is True and checked.json()["certifies"]["submission_id"] == version["id"]

    # proofs.json: what each proof says, where it is, and its custody with this very read in it
    listed = json.loads((data / "proofs.json").read_text("utf-8"))["proofs"]
    assert {p["id"] for p in listed} == set(told["proofs"])
    for entry in listed:
        content = (bag_dir / entry["file"]).read_bytes()
        assert entry["sha256"] == hashlib.sha256(content).hexdigest()
        assert entry["sha512"] == hashlib.sha512(content).hexdigest()
        assert entry["signed_by"] and entry["measured_on"] and entry["uploaded_by"]["label"] == "Éditeur DUI"
        readers = [(r["reader"]["label"], r["route"], r["bundle"]) for r in entry["custody"]]
        assert readers == [("Auditrice CNSA", ROUTE, top)]

    # the request's events, and the log's word on each sequenced one, checked as an outsider would
    events = json.loads((data / "audit-events.json").read_text("utf-8"))["items"]
    actions = [e["action"] for e in events]
    for action in ("funding_request_created", "submission_stored", "proof_stored", "review_recorded",
                   "evidence_bundle_read", "proof_read"):
        assert action in actions, action
    vkey = api.client.get("/v1/log/key", headers=cnsa).json()["vkey"]
    _, size, root = checkpoint_of((data / "log" / "checkpoint.txt").read_text("utf-8"), vkey)
    inclusion = json.loads((data / "log" / "inclusion-proofs.json").read_text("utf-8"))
    assert inclusion["tree_size"] == size and bytes.fromhex(inclusion["root_hash"]) == root
    by_seq = {e["seq"]: e for e in events}
    assert {p["seq"] for p in inclusion["proofs"]} | set(inclusion["not_yet_sequenced"]) == set(by_seq)
    assert inclusion["not_yet_sequenced"]  # this read's own events come after the checkpoint
    for proof in inclusion["proofs"]:
        leaf_hash = hashlib.sha256(b"\x00" + base64.b64decode(by_seq[proof["seq"]]["leaf"])).digest()
        assert proof["leaf_hash"] == leaf_hash.hex() and proof["index"] == by_seq[proof["seq"]]["index"]
        assert included(proof["index"], size, leaf_hash, [bytes.fromhex(h) for h in proof["hashes"]], root)


def test_the_case_bundle_adds_the_case_for_the_cnsa_only(api: Api, tmp_path: Path) -> None:
    told = story(api)
    cnsa = api.auth(api.key("cnsa_auditor", label="Auditrice CNSA"))
    case = next(c for c in api.client.get("/v1/control-queue", headers=cnsa).json()["items"]
                if c["submission_id"] == told["version"]["id"])
    asked = api.client.post(f"/v1/control-cases/{case['id']}/proof-requests", headers=cnsa, json={
        "finess": told["req"]["establishments"][0]["finess"], "message": "Rapport signé du nombre de DUI actifs."})
    assert asked.status_code == 201, asked.text
    response = api.client.get(f"/v1/control-cases/{case['id']}/evidence.zip", headers=cnsa)
    assert response.status_code == 200, response.text
    bag_dir, _ = unzip(response.content, tmp_path)
    bag = validated(bag_dir)
    assert bag.info["External-Identifier"] == told["version"]["id"]
    assert bag.info["Internal-Sender-Identifier"] == f"control-case:{case['id']}"
    carried = json.loads((bag_dir / "data" / "case.json").read_text("utf-8"))
    assert carried["id"] == case["id"] and carried["score"] == case["score"]
    assert [r["id"] for r in carried["proof_requests"]] == [asked.json()["id"]]
    events = json.loads((bag_dir / "data" / "audit-events.json").read_text("utf-8"))["items"]
    read = [e for e in events if e["action"] == "evidence_bundle_read"]
    assert [(e["object_type"], e["object_id"], e["payload"]["route"]) for e in read] == [
        ("control_case", case["id"], "GET /v1/control-cases/{case_id}/evidence.zip")]

    scopes: list[tuple[str, dict[str, Any]]] = [("ars_reviewer", {"region_code": "75"}),
                                                ("vendor", {"galis_refs": [told["req"]["galis_ref"]]}),
                                                ("porteur", {"siret": told["req"]["siret"]})]
    for role, scope in scopes:
        refused = api.client.get(f"/v1/control-cases/{case['id']}/evidence.zip",
                                 headers=api.auth(api.key(role, **scope)))
        assert refused.status_code == 403 and refused.json()["code"] == "role_not_allowed"
    missing = api.client.get("/v1/control-cases/00000000-0000-4000-8000-000000000000/evidence.zip", headers=cnsa)
    assert missing.status_code == 404


def test_a_bundle_out_of_scope_is_404_and_records_nothing(api: Api) -> None:
    told = story(api)
    elsewhere = api.auth(api.key("ars_reviewer", region_code="84"))
    other_vendor = api.auth(api.key("vendor", galis_refs=["99999999"]))
    before = api.count("audit_event")
    refused = api.client.get(f"/v1/submissions/{told['version']['id']}/evidence.zip", headers=elsewhere)
    assert refused.status_code == 404 and refused.json()["code"] == "submission_not_found"
    assert api.client.get(f"/v1/submissions/{told['version']['id']}/evidence.zip",
                          headers=other_vendor).status_code == 404
    assert api.count("audit_event") == before
    # within its scope, the porteur gets the bag of its own version
    porteur = api.auth(api.key("porteur", siret=told["req"]["siret"]))
    assert api.client.get(f"/v1/submissions/{told['version']['id']}/evidence.zip", headers=porteur).status_code == 200


def test_a_proof_whose_stored_bytes_changed_never_goes_into_a_bag(api: Api, storage_settings: dict[str, Any],
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    told = story(api)
    victim = next(iter(told["proofs"].values()))
    digest = hashlib.sha256(victim).hexdigest()
    stored = storage_settings["storage_dir"] / "objects" / digest[:2] / digest[2:]
    stored.chmod(0o644)
    flipped = bytearray(stored.read_bytes())
    flipped[len(flipped) // 2] ^= 0x01
    stored.write_bytes(bytes(flipped))
    before = api.count("audit_event")
    cnsa = api.auth(api.key("cnsa_auditor"))
    with caplog.at_level(logging.CRITICAL):
        response = api.client.get(f"/v1/submissions/{told['version']['id']}/evidence.zip", headers=cnsa)
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "proof_integrity_error"
    assert any(r.levelno == logging.CRITICAL and digest in r.getMessage() for r in caplog.records)
    assert api.count("audit_event") == before + 1  # the key created above; no read recorded


def test_custody_lists_every_read_of_a_proof_with_its_reader_and_route(api: Api) -> None:
    told = story(api)
    proof_id = next(iter(told["proofs"]))
    vendor = api.auth(told["vendor"])
    cnsa = api.auth(api.key("cnsa_auditor", label="Auditrice CNSA"))
    assert api.client.head(f"/v1/proofs/{proof_id}/content", headers=vendor).status_code == 200  # no bytes sent
    assert api.client.get(f"/v1/proofs/{proof_id}/content", headers=vendor).content == told["proofs"][proof_id]
    assert api.client.get(f"/v1/submissions/{told['version']['id']}/evidence.zip", headers=cnsa).status_code == 200
    custody = api.client.get(f"/v1/proofs/{proof_id}/custody", headers=cnsa)
    assert custody.status_code == 200, custody.text
    reads = [(r["reader"]["label"], r["route"], r["path"]) for r in custody.json()["items"]]
    assert reads == [
        ("Éditeur DUI", "GET /v1/proofs/{proof_id}/content", f"/v1/proofs/{proof_id}/content"),
        ("Auditrice CNSA", ROUTE, f"/v1/submissions/{told['version']['id']}/evidence.zip"),
    ]
    first = api.client.get(f"/v1/proofs/{proof_id}/custody", params={"limit": 1}, headers=cnsa).json()
    rest = api.client.get(f"/v1/proofs/{proof_id}/custody", params={"limit": 1, "cursor": first["next_cursor"]},
                          headers=cnsa).json()
    assert [r["seq"] for r in first["items"] + rest["items"]] == [r["seq"] for r in custody.json()["items"]]
    assert rest["next_cursor"] is None
    api.sequence()
    assert all(r["index"] is not None for r in api.client.get(f"/v1/proofs/{proof_id}/custody",
                                                               headers=cnsa).json()["items"])
    elsewhere = api.auth(api.key("ars_reviewer", region_code="84"))
    assert api.client.get(f"/v1/proofs/{proof_id}/custody", headers=elsewhere).status_code == 404


def test_reads_of_reports_and_exports_are_audit_events(api: Api) -> None:
    told = story(api)
    version_id, ref = told["version"]["id"], told["req"]["galis_ref"]
    vendor = api.auth(told["vendor"])
    cnsa = api.auth(api.key("cnsa_auditor", label="Auditrice CNSA"))
    assert api.client.get(f"/v1/submissions/{version_id}/report.pdf", headers=vendor).status_code == 200
    assert api.client.head(f"/v1/submissions/{version_id}/report.pdf", headers=vendor).status_code == 200
    assert api.client.get(f"/v1/submissions/{version_id}.xlsx", headers=vendor).status_code == 200
    assert api.client.get("/v1/exports/submissions.csv", params={"milestone": "fin_projet", "region": "75"},
                          headers=cnsa).status_code == 200
    events = api.client.get("/v1/audit-events", params={"limit": 500}, headers=cnsa).json()["items"]
    reads = [(e["action"], e["object_type"], e["galis_ref"], e["actor"]["label"], e["payload"].get("route"))
             for e in events if e["action"] in ("report_read", "export_read")]
    assert reads == [
        ("report_read", "submission", ref, "Éditeur DUI", "GET /v1/submissions/{submission_id}/report.pdf"),
        ("export_read", "submission", ref, "Éditeur DUI", "GET /v1/submissions/{submission_id}.xlsx"),
        ("export_read", "export", None, "Auditrice CNSA", "GET /v1/exports/submissions.csv"),
    ]
    national = next(e for e in events if e["object_type"] == "export")
    assert national["payload"]["milestone"] == "fin_projet" and national["payload"]["region"] == "75"
