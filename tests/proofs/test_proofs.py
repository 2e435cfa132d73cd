"""Proofs of usage through HTTP, on both proof stores (a folder, and S3 served by moto).

Every bad file class is refused with its code and leaves nothing behind: no row, no stored
object, no staging file.
"""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.kit.storage import ProofStore
from service.main import create_app
from tests import factories, proof_files
from tests.conftest import ROOT, Api, make_settings, rows_for
from tests.proofs.conftest import store_settings

S3_ENV = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture(params=["local", "s3"])
def storage_settings(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    return store_settings(request.param, tmp_path / "proofs", request)


def store_of(api: Api) -> ProofStore:
    return api.client.app.state.proof_store  # type: ignore[attr-defined,no-any-return]


def stored_objects(api: Api) -> list[str]:
    return sorted(digest for digest, _ in store_of(api).objects())


def staging_files(api: Api) -> list[Path]:
    return list(store_of(api).staging_dir.iterdir())


@pytest.fixture
def version(api: Api) -> dict[str, Any]:
    """A fin de projet version of a request with two establishments."""
    req = api.create_request(vsr_on="2024-06-01", establishments=[
        {"finess": factories.finess("24"), "name": "EHPAD Les Œillets"},
        {"finess": factories.finess("33"), "name": "SSIAD du Médoc"},
    ])
    pushed = api.push(req["galis_ref"], {"milestone": "fin_projet", "rows": rows_for(req)})
    assert pushed.status_code == 201, pushed.text
    return {"request": req, "id": pushed.json()["id"], "finess": [e["finess"] for e in req["establishments"]]}


@pytest.mark.parametrize(("content", "filename", "media_type"), [
    (proof_files.pdf(), "rapport-usage.pdf", "application/pdf"),
    (proof_files.png(), "capture écran.png", "image/png"),
    (proof_files.jpeg(), "capture.jpg", "image/jpeg"),
], ids=["pdf", "png", "jpeg"])
def test_a_proof_goes_in_and_comes_out_byte_identical(api: Api, version: dict[str, Any], content: bytes,
                                                      filename: str, media_type: str) -> None:
    finess = version["finess"][0]
    response = api.upload_proof(version["id"], content, finess=finess, filename=filename, content_type=media_type)
    assert response.status_code == 201, response.text
    proof = response.json()
    digest = hashlib.sha256(content).hexdigest()
    assert (proof["sha256"], proof["media_type"], proof["size"], proof["finess"]) == (digest, media_type,
                                                                                      len(content), finess)
    assert proof["filename"] == filename and proof["signed_by"] == "Marie Dupont, directrice générale"

    fetched = api.client.get(proof["content_url"], headers=api.auth(api.admin))
    assert fetched.status_code == 200
    assert fetched.content == content
    assert fetched.headers["content-type"] == media_type
    assert fetched.headers["repr-digest"] == f"sha-256=:{base64.b64encode(hashlib.sha256(content).digest()).decode()}:"
    assert stored_objects(api) == [digest]
    assert staging_files(api) == []

    assert api.client.get(f"/v1/proofs/{proof['id']}", headers=api.auth(api.admin)).json() == proof
    listed = api.client.get(f"/v1/submissions/{version['id']}", headers=api.auth(api.admin)).json()
    assert [p["id"] for p in listed["proofs"]] == [proof["id"]]
    assert listed["proofs_missing"] == [version["finess"][1]]


def test_identical_bytes_are_stored_once(api: Api, version: dict[str, Any]) -> None:
    content = proof_files.pdf("Rapport commun aux deux établissements")
    ids = []
    for finess in version["finess"]:
        response = api.upload_proof(version["id"], content, finess=finess)
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    assert len(set(ids)) == 2 and api.count("proof") == 2
    assert stored_objects(api) == [hashlib.sha256(content).hexdigest()]
    listed = api.client.get(f"/v1/submissions/{version['id']}", headers=api.auth(api.admin)).json()
    assert listed["proofs_missing"] == []
    assert sorted(p["finess"] for p in listed["proofs"]) == sorted(version["finess"])


BAD_FILES = [
    # (name, content, filename, declared type, status, code)
    ("zip renamed .pdf", proof_files.zip_archive(), "rapport.pdf", "application/pdf", 415, "proof_modifiable_format"),
    ("xlsx", proof_files.xlsx(), "export.xlsx",
     "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", 415, "proof_modifiable_format"),
    ("xlsx renamed .png", proof_files.xlsx(), "capture.png", "image/png", 415, "proof_modifiable_format"),
    ("docx", proof_files.docx(), "attestation.docx", None, 415, "proof_modifiable_format"),
    ("xls", proof_files.legacy_xls(), "export.xls", "application/vnd.ms-excel", 415, "proof_modifiable_format"),
    ("csv", proof_files.csv(), "export.csv", "text/csv", 415, "proof_modifiable_format"),
    ("gif", proof_files.gif(), "capture.gif", "image/gif", 415, "proof_unsupported_type"),
    ("encrypted pdf", proof_files.encrypted_pdf(), "rapport.pdf", "application/pdf", 422, "proof_encrypted"),
    ("png bomb", proof_files.png_bomb(), "capture.png", "image/png", 422, "proof_image_too_large"),
    ("truncated jpeg", proof_files.truncated_jpeg(), "capture.jpg", "image/jpeg", 422, "proof_corrupt"),
    ("truncated pdf", proof_files.truncated_pdf(), "rapport.pdf", "application/pdf", 422, "proof_corrupt"),
    ("garbage pdf", proof_files.garbage_pdf(), "rapport.pdf", "application/pdf", 422, "proof_corrupt"),
    ("pdf/zip polyglot", proof_files.polyglot_pdf_zip(), "rapport.pdf", "application/pdf", 422, "proof_polyglot"),
    ("png named .pdf", proof_files.png(), "rapport.pdf", "application/pdf", 422, "proof_type_mismatch"),
    ("jpeg declared png", proof_files.jpeg(), "capture", "image/png", 422, "proof_type_mismatch"),
    ("empty file", b"", "rapport.pdf", "application/pdf", 422, "proof_empty"),
]


@pytest.mark.parametrize(("content", "filename", "media_type", "status", "code"),
                         [case[1:] for case in BAD_FILES], ids=[case[0] for case in BAD_FILES])
def test_a_bad_file_is_refused_with_its_code_and_nothing_is_stored(
        api: Api, version: dict[str, Any], content: bytes, filename: str, media_type: str | None, status: int,
        code: str) -> None:
    response = api.upload_proof(version["id"], content, finess=version["finess"][0], filename=filename,
                                content_type=media_type)
    assert response.status_code == status, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert problem["code"] == code
    if status == 422:
        assert problem["errors"][0]["field"] == "file" and problem["errors"][0]["code"] == code
    assert problem["detail"] == problem["errors"][0]["message"] if status == 422 else problem["detail"]
    assert api.count("proof") == 0
    assert stored_objects(api) == []
    assert staging_files(api) == []


def test_the_metadata_must_match_the_version_and_every_problem_is_listed(api: Api, version: dict[str, Any]) -> None:
    response = api.upload_proof(version["id"], proof_files.pdf(), finess="240000372", period_start="2024-02-01",
                                measured_on="2099-01-01", signed_by=" ")
    assert response.status_code == 422, response.text
    codes = {(e["field"], e["code"]) for e in response.json()["errors"]}
    assert codes == {("finess", "proof_finess_not_in_submission"), ("measured_on", "proof_measured_on_future"),
                     ("signed_by", "field_required")}

    response = api.upload_proof(version["id"], proof_files.pdf(), finess=version["finess"][0],
                                period_start="2024-02-01", measured_on="2024-13-01")
    codes = {(e["field"], e["code"]) for e in response.json()["errors"]}
    assert codes == {("measured_on", "invalid_date"), ("period_start", "proof_period_mismatch")}

    response = api.upload_proof(version["id"], proof_files.pdf(), finess=version["finess"][0],
                                period_start="2024-02-01")
    [issue] = response.json()["errors"]
    assert issue["code"] == "proof_period_mismatch"
    assert "01/01/2024 – 31/03/2024" in issue["message"]

    response = api.upload_proof(version["id"], proof_files.pdf(), finess="240000373")
    assert [e["code"] for e in response.json()["errors"]] == ["finess_checksum"]
    assert api.count("proof") == 0 and stored_objects(api) == [] and staging_files(api) == []


def test_a_missing_file_or_a_body_that_is_not_multipart_is_refused(api: Api, version: dict[str, Any]) -> None:
    url = f"/v1/submissions/{version['id']}/proofs"
    headers = api.auth(api.admin)
    response = api.client.post(url, files={"finess": (None, version["finess"][0])}, headers=headers)
    assert response.status_code == 422 and response.json()["code"] == "proof_file_missing"
    response = api.client.post(url, json={"finess": version["finess"][0]}, headers=headers)
    assert response.status_code == 415 and response.json()["code"] == "unsupported_media_type"
    response = api.client.post(url, content=b"--xyz\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nabc",
                               headers={**headers, "Content-Type": "multipart/form-data; boundary=xyz"})
    assert response.status_code == 400 and response.json()["code"] == "malformed_multipart"
    assert api.count("proof") == 0 and staging_files(api) == []


def test_a_file_over_the_size_limit_is_refused_while_streaming(database_url: str, storage_settings: dict[str, Any],
                                                              version: dict[str, Any], api: Api) -> None:
    settings = make_settings(database_url, max_proof_bytes=50_000, **storage_settings)
    big = proof_files.pdf() + b"%" + os.urandom(60_000) + b"\n%%EOF\n"
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        small = Api(client)
        response = small.upload_proof(version["id"], big, key=api.admin, finess=version["finess"][0])
        assert response.status_code == 413 and response.json()["code"] == "proof_too_large"

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is enforced on the stream itself
            boundary = b"--b0undary\r\n"
            yield boundary + b'Content-Disposition: form-data; name="file"; filename="r.pdf"\r\n'
            yield b"Content-Type: application/pdf\r\n\r\n"
            for start in range(0, len(big), 8192):
                yield big[start:start + 8192]
            yield b"\r\n--b0undary--\r\n"

        multipart = {"Content-Type": "multipart/form-data; boundary=b0undary"}
        response = client.post(f"/v1/submissions/{version['id']}/proofs", content=chunks(),
                               headers={**api.auth(api.admin), **multipart})
        assert response.status_code == 413 and response.json()["code"] == "proof_too_large"
        assert small.count("proof") == 0
        assert list(client.app.state.proof_store.objects()) == []  # type: ignore[attr-defined]
        assert list(client.app.state.proof_store.staging_dir.iterdir()) == []  # type: ignore[attr-defined]


def test_a_proof_follows_unchanged_figures_to_the_next_version(api: Api, version: dict[str, Any]) -> None:
    req = version["request"]
    first, second = version["finess"]
    for finess in (first, second):
        assert api.upload_proof(version["id"], proof_files.pdf(f"Rapport {finess}"), finess=finess).status_code == 201

    same = api.push(req["galis_ref"], {"milestone": "fin_projet", "rows": rows_for(req)}).json()
    view = api.client.get(f"/v1/submissions/{same['id']}", headers=api.auth(api.admin)).json()
    assert view["proofs_missing"] == [] and len(view["proofs"]) == 2

    rows = rows_for(req)
    rows[1]["active_dui"] -= 1  # the second establishment's figures change: its proof no longer documents them
    changed = api.push(req["galis_ref"], {"milestone": "fin_projet", "rows": rows}).json()
    view = api.client.get(f"/v1/submissions/{changed['id']}", headers=api.auth(api.admin)).json()
    assert view["proofs_missing"] == [second]
    assert [p["finess"] for p in view["proofs"]] == [first]


def test_no_proof_once_the_balance_is_paid(api: Api, version: dict[str, Any]) -> None:
    api.event(version["request"]["galis_ref"], "balance_paid", "2024-12-01")
    response = api.upload_proof(version["id"], proof_files.pdf(), finess=version["finess"][0])
    assert response.status_code == 409 and response.json()["code"] == "request_closed"
    assert api.count("proof") == 0


def test_altered_stored_bytes_are_never_served(api: Api, version: dict[str, Any],
                                               storage_settings: dict[str, Any]) -> None:
    content = proof_files.pdf()
    proof = api.upload_proof(version["id"], content, finess=version["finess"][0]).json()
    store = store_of(api)
    altered = bytearray(content)
    altered[len(content) // 2] ^= 0x01  # one bit, in the middle of the file
    altered = bytes(altered)
    if storage_settings.get("storage_backend") == "s3":
        store.client.put_object(Bucket=store.bucket, Key=store.prefix + proof["sha256"], Body=altered)  # type: ignore[attr-defined]
    else:
        path = store.objects_dir / proof["sha256"][:2] / proof["sha256"][2:]  # type: ignore[attr-defined]
        path.chmod(0o644)
        path.write_bytes(altered)
    response = api.client.get(proof["content_url"], headers=api.auth(api.admin))
    assert response.status_code == 500
    assert response.json()["code"] == "proof_integrity_error"
    assert altered not in response.content


def test_a_crash_between_store_and_commit_leaves_an_orphan_that_the_sweep_removes(
        api: Api, version: dict[str, Any], database_url: str, storage_settings: dict[str, Any]) -> None:
    kept_content = proof_files.pdf("conservée")
    kept = api.upload_proof(version["id"], kept_content, finess=version["finess"][0]).json()
    env = {**os.environ, **S3_ENV, "SERVICE_DATABASE_URL": database_url,
           **{f"SERVICE_{k.upper()}": str(v) for k, v in storage_settings.items()}}
    orphan = proof_files.pdf("jamais enregistrée")
    # The upload path up to the store, then the process dies before the database commit.
    crash = (
        "import hashlib, os, sys\n"
        "from service.kit.settings import Settings\nfrom service.kit.storage import open_store\n"
        "store = open_store(Settings())\ndata = sys.stdin.buffer.read()\n"
        "with store.new_staging_file() as staged:\n    staged.write(data); staged.flush(); os.fsync(staged.fileno())\n"
        "store.put(hashlib.sha256(data).hexdigest(), __import__('pathlib').Path(staged.name))\nos._exit(9)\n"
    )
    done = subprocess.run([sys.executable, "-c", crash], input=orphan, env=env, cwd=ROOT, capture_output=True)
    assert done.returncode == 9, done.stderr.decode()
    orphan_digest = hashlib.sha256(orphan).hexdigest()
    assert orphan_digest in stored_objects(api)
    assert api.count("proof") == 1  # no visible proof
    view = api.client.get(f"/v1/submissions/{version['id']}", headers=api.auth(api.admin)).json()
    assert [p["sha256"] for p in view["proofs"]] == [kept["sha256"]]

    # And an upload cut off mid-file (the client went away, the process was killed): its staging file stays.
    interrupted = store_of(api).staging_dir / "upload-interrompu"
    interrupted.write_bytes(orphan[:100])

    sweep = [sys.executable, "-m", "service", "sweep-proofs"]
    young = subprocess.run(sweep, env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    # within the grace period: an upload in flight
    assert "0 fichier(s) orphelin(s) supprimé(s), 0 fichier(s) de dépôt interrompu supprimé(s)" in young.stdout
    swept = subprocess.run([*sweep, "--grace-seconds", "0"], env=env, cwd=ROOT, capture_output=True, text=True,
                           check=True)
    assert f"supprimé : {orphan_digest}" in swept.stdout
    assert f"dépôt interrompu supprimé : {interrupted} (100 octets)" in swept.stdout
    assert "1 fichier(s) orphelin(s) supprimé(s), 1 fichier(s) de dépôt interrompu supprimé(s) (100 octets)" \
        in swept.stdout
    assert stored_objects(api) == [kept["sha256"]] and staging_files(api) == []
    assert api.client.get(kept["content_url"], headers=api.auth(api.admin)).content == kept_content
