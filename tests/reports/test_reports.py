"""Signed PDF summaries: every number readable, a signature that validates, one byte changed is caught."""

from __future__ import annotations

import base64
import io
import subprocess
from pathlib import Path
from typing import Any

import pytest
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko_certvalidator import ValidationContext
from pypdf import PdfReader

from service.reports.pdf import render
from service.reports.use_cases import build_model
from tests import factories, proof_files
from tests.conftest import Api, rows_for

LONG_NAME = ("Établissement d'hébergement pour personnes âgées dépendantes « Les Œillets » — cœur de l'œuvre "
             "sociale du Médoc, site principal et annexes de jour ") * 2


def grappe(api: Api, size: int, **row_overrides: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    establishments = [{"finess": factories.finess("33"), "name": f"EHPAD n° {n} — Sœurs de l'Œuvre",
                       "category": "500"} for n in range(size)]
    req = api.create_request(establishments=establishments, porteur_name="Association Cœur & Œuvre")
    pushed = api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req, **row_overrides)})
    assert pushed.status_code == 201, pushed.text
    return req, pushed.json()


def report(api: Api, submission_id: str, key: str | None = None) -> Any:
    return api.client.get(f"/v1/submissions/{submission_id}/report.pdf", headers=api.auth(key or api.admin))


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def verify(api: Api, pdf: bytes, key: str | None = None) -> dict[str, Any]:
    response = api.client.post("/v1/reports/verify", files={"file": ("synthese.pdf", pdf, "application/pdf")},
                               headers=api.auth(key or api.admin))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_the_report_shows_every_number_and_its_signature_validates(api: Api) -> None:
    req, version = grappe(api, 2)
    rows = rows_for(req)
    rows[0]["raison_sociale"] = LONG_NAME.strip()[:300]
    rows[1].update(active_dui=0, dui_with_personal_plan=0, dui_with_agenda_event=0, dmp_fed=0)  # zero denominators
    version = api.push(req["galis_ref"], {"milestone": "va", "rows": rows}).json()
    first = rows[0]["finess"]
    assert api.upload_proof(version["id"], proof_files.pdf(), finess=first).status_code == 201
    response = report(api, version["id"])
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    pdf = response.content
    text = " ".join(text_of(pdf).split())  # lines broken by the layout joined again
    for expected in (req["galis_ref"], "Association Cœur & Œuvre", req["siret"], "Nouvelle-Aquitaine",
                     "VA — vérification d'aptitude", "remplace la version 1", "Les Œillets", first, rows[1]["finess"],
                     "95,0 %", "atteinte", "non atteinte", "non calculable", "44,4 %", "Total de la grappe",
                     "Instruction DNS/DGCS/CNSA/2024/15", "campagne 2024 ; catégorie(s) ESMS 500",
                     "Marie Dupont, directrice générale", "Transmise par clé «", "(Administration du service)",
                     f"Version {version['id']}", "Page 1/"):
        assert expected in text, expected
    proof = api.client.get(f"/v1/submissions/{version['id']}", headers=api.auth(api.admin)).json()["proofs"][0]
    assert proof["sha256"] in text_of(pdf).replace("\n", "")

    signer = api.client.app.state.report_signer  # type: ignore[attr-defined]
    embedded = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    assert len(embedded) == 1
    status = validate_pdf_signature(embedded[0], ValidationContext(trust_roots=[signer.certificate]))
    assert status.bottom_line and status.intact and status.valid and status.trusted

    checked = verify(api, pdf)
    assert checked["valid"] is True and checked["signature"]["covers_whole_file"] is True
    assert checked["certifies"]["submission_id"] == version["id"]
    assert (checked["certifies"]["is_latest"], checked["certifies"]["same_data_as_today"]) == (True, True)


def test_one_changed_byte_is_caught_and_a_newer_version_is_told(api: Api) -> None:
    req, version = grappe(api, 1)
    pdf = report(api, version["id"]).content
    tampered = bytearray(pdf)
    position = pdf.index(b"stream") + 40  # inside the first page's content, within the signed range
    tampered[position] ^= 0x01
    refused = verify(api, bytes(tampered))
    assert refused["valid"] is False and refused["signature"]["intact"] is False
    assert "modifié" in refused["message"]

    appended = verify(api, pdf + b"\n% ajout\n")
    assert appended["valid"] is False

    assert verify(api, proof_files.pdf())["signature"]["present"] is False
    api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req, dmp_fed=41)})
    later = verify(api, pdf)
    assert later["valid"] is True
    assert (later["certifies"]["is_latest"], later["certifies"]["latest_version"]) == (False, 2)


def test_the_same_version_always_gives_the_same_content(api: Api) -> None:
    _, version = grappe(api, 3)
    assert report(api, version["id"]).content == report(api, version["id"]).content  # cached
    with api.database.engine.connect() as conn:
        from sqlmodel import Session

        with Session(bind=conn) as session:
            from service.domain.access import Principal, Role

            model = build_model(session, Principal(key_id=0, role=Role.ADMIN), version["id"], timezone="Europe/Paris")
    assert render(model) == render(model)


@pytest.mark.parametrize("size", [1, 300])
def test_pages_render_and_every_establishment_is_there(api: Api, tmp_path: Path, size: int) -> None:
    _, version = grappe(api, size)
    pdf = report(api, version["id"]).content
    pages = len(PdfReader(io.BytesIO(pdf)).pages)
    path = tmp_path / "synthese.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "40", str(path), str(tmp_path / "page")], check=True, timeout=120)
    images = sorted(tmp_path.glob("page-*.png"))
    assert len(images) == pages and all(image.stat().st_size > 1000 for image in images)
    text = text_of(pdf)
    assert f"Page {pages}/{pages}" in text
    for row in version["rows"]:
        assert row["finess"] in text
    if size == 300:
        assert pages > 5


def test_out_of_scope_report_is_not_found_and_verification_does_not_reveal_it(api: Api) -> None:
    req, version = grappe(api, 1)
    outsider = api.key("ars_reviewer", region_code="84")
    assert report(api, version["id"], outsider).status_code == 404
    pdf = report(api, version["id"]).content
    checked = verify(api, pdf, outsider)
    assert checked["valid"] is True and checked["certifies"] == {
        "submission_id": version["id"], "data_digest": checked["certifies"]["data_digest"], "found": False}


def test_reports_signed_before_a_key_rotation_still_verify(api: Api, tmp_path: Path) -> None:
    from service.kit.settings import Settings
    from service.reports.signing import ReportSigner

    _, version = grappe(api, 1)
    pdf = report(api, version["id"]).content
    old = api.client.app.state.report_signer  # type: ignore[attr-defined]
    old_cert = tmp_path / "old-cert.pem"
    old_cert.write_text(old.certificate_pem)
    rotated = ReportSigner.from_settings(Settings(signing_dir=tmp_path / "new"))
    assert rotated.verify(pdf).ok is False and rotated.verify(pdf).trusted is False
    keeping = ReportSigner.from_settings(Settings(signing_dir=tmp_path / "new", signing_previous_certs=[old_cert]))
    assert keeping.verify(pdf).ok is True


def test_the_file_declares_only_embedded_fonts_dates_itself_and_carries_its_certificate_once(
        api: Api, tmp_path: Path) -> None:
    from asn1crypto import cms

    _, version = grappe(api, 2)
    pdf = report(api, version["id"]).content
    path = tmp_path / "synthese.pdf"
    path.write_bytes(pdf)
    # poppler's pdffonts: every font used is embedded (no Helvetica declared and left out).
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    lines = fonts.splitlines()[2:]
    assert lines and all(" yes " in line.split("TrueType")[-1] for line in lines), fonts
    assert "Helvetica" not in fonts
    reader = PdfReader(io.BytesIO(pdf))
    for page in reader.pages:
        names = {str(font.get_object()["/BaseFont"]) for font in page["/Resources"]["/Font"].values()}
        assert not any("Helvetica" in name for name in names), names
    # CreationDate: the version's reception time, in UTC (not reportlab's fixed 1 January 2000).
    received = version["received_at"].replace("-", "").replace(":", "").replace("T", "")[:14]
    assert str(reader.metadata["/CreationDate"]).startswith(f"D:{received}"), reader.metadata
    # The signer's certificate once in the signature.
    embedded = PdfFileReader(io.BytesIO(pdf)).embedded_signatures[0]
    signed_data = embedded.signed_data
    assert isinstance(signed_data, cms.SignedData)
    certificates = [c.chosen.sha256 for c in signed_data["certificates"]]
    assert len(certificates) == len(set(certificates)) == 1


def test_a_tampered_file_reads_as_valid_nowhere_in_the_answer(api: Api, tmp_path: Path) -> None:
    _, version = grappe(api, 1)
    pdf = report(api, version["id"]).content
    tampered = bytearray(pdf)
    tampered[pdf.index(b"stream") + 40] ^= 0x01
    for name, content, says in (("ok.pdf", pdf, "Signature is Valid."), ("altered.pdf", tampered, "Digest Mismatch")):
        (tmp_path / name).write_bytes(content)  # poppler's pdfsig agrees
        checked = subprocess.run(["pdfsig", str(tmp_path / name)], capture_output=True, text=True).stdout
        assert f"Signature Validation: {says}" in checked, checked
    answer = verify(api, bytes(tampered))
    assert answer["valid"] is False
    assert answer["signature"]["present"] is True
    assert answer["signature"]["intact"] is False and answer["signature"]["valid"] is False
    assert answer["certifies"] is None
    assert "modifié" in answer["message"]


def test_once_sequenced_the_report_names_its_leaf_and_checkpoint_and_earlier_copies_still_hold(api: Api) -> None:
    _, version = grappe(api, 1)
    first = report(api, version["id"])
    before = first.content
    assert "Journal vérifiable" not in text_of(before)
    api.sequence()
    after = report(api, version["id"])
    text = " ".join(text_of(after.content).split())
    events = api.client.get("/v1/audit-events", params={"limit": 500}, headers=api.auth(api.admin)).json()["items"]
    stored = next(e for e in events if e["object_id"] == version["id"] and e["action"] == "submission_stored")
    checkpoint = api.client.get("/v1/log/checkpoint", headers=api.auth(api.admin)).text.split("\n")
    size, root = int(checkpoint[1]), base64.b64decode(checkpoint[2]).hex()
    assert f"événement d'index {stored['index']}" in text and f"taille {size}" in text
    assert root in text.replace(" ", "")
    proof = api.client.get("/v1/log/proofs/inclusion", params={"index": stored["index"], "tree_size": size},
                           headers=api.auth(api.admin))
    assert proof.status_code == 200 and proof.json()["root_hash"] == root
    assert after.headers["etag"] != first.headers["etag"]  # other bytes, another tag
    checked = verify(api, before)  # a copy issued before the log held the version: the same data
    assert checked["valid"] is True and checked["certifies"]["same_data_as_today"] is True
