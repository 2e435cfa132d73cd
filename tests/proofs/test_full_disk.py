"""A full disk under the proof store: stored proofs stay readable, an upload is refused with 507
``storage_full`` (one log line, no traceback) and nothing is half stored; once room returns,
uploads go through again. On a real tmpfs, for the folder store and for S3 (whose staging folder
is on the full disk)."""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image

from service.main import create_app
from tests import factories, proof_files
from tests.conftest import Api, fill_disk, make_settings, rows_for, running_service, small_disk
from tests.proofs.conftest import store_settings


def noisy_png(side: int = 420) -> bytes:
    """A new PNG of about ``side``² × 3 bytes: noise does not compress."""
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(params=["local", "s3"])
def storage_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, Any]]:
    with small_disk(tmp_path / "disk", "8m") as disk:
        yield store_settings(request.param, disk / "proofs", request)


def version_of(api: Api) -> tuple[str, str]:
    req = api.create_request(vsr_on="2024-06-01", establishments=[{"finess": factories.finess("24"), "name": "EHPAD"}])
    pushed = api.push(req["galis_ref"], {"milestone": "fin_projet", "rows": rows_for(req)})
    assert pushed.status_code == 201, pushed.text
    return pushed.json()["id"], req["establishments"][0]["finess"]


def test_a_full_proof_disk_keeps_proofs_readable_and_refuses_uploads_with_507(
        api: Api, storage_settings: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    submission_id, finess = version_of(api)
    contents = [noisy_png() for _ in range(3)]
    proofs = []
    for content in contents:
        response = api.upload_proof(submission_id, content, finess=finess, filename="capture.png",
                                    content_type="image/png")
        assert response.status_code == 201, response.text
        proofs.append(response.json())
    store = api.client.app.state.proof_store  # type: ignore[attr-defined]
    objects_before = sorted(digest for digest, _ in store.objects())
    filler = fill_disk(storage_settings["storage_dir"])
    assert os.statvfs(filler).f_bavail == 0

    # Every stored proof is read from where it lies: no copy needs room.
    with ThreadPoolExecutor(max_workers=6) as pool:
        fetched = list(pool.map(lambda proof: api.client.get(proof["content_url"], headers=api.auth(api.admin)),
                                proofs * 4))
    assert [f.status_code for f in fetched] == [200] * 12
    assert [f.content for f in fetched] == contents * 4

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        refused = api.upload_proof(submission_id, noisy_png(), finess=finess, filename="capture.png",
                                   content_type="image/png")
    assert refused.status_code == 507, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["code"] == "storage_full" and "n'a pas été enregistré" in refused.json()["detail"]
    assert int(refused.headers["retry-after"]) > 0
    problems = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(problems) == 1 and problems[0].exc_info is None and "no space left" in problems[0].getMessage()
    # nothing half stored: no row, no object, no staging file
    assert api.count("proof") == 3
    assert sorted(digest for digest, _ in store.objects()) == objects_before
    assert list(store.staging_dir.iterdir()) == []

    filler.unlink()
    again = api.upload_proof(submission_id, noisy_png(), finess=finess, filename="capture.png",
                             content_type="image/png")
    assert again.status_code == 201, again.text
    assert api.count("proof") == 4


def test_concurrent_uploads_on_a_full_disk_each_get_their_answer(tmp_path: Path) -> None:
    """Over real HTTP: the rest of a refused body is read, so that a client still sending reads the 507."""
    with small_disk(tmp_path / "disk", "4m") as disk, \
            running_service(tmp_path, storage_dir=disk / "proofs") as live:
        auth = {"Authorization": f"Bearer {live.admin_key}"}
        with httpx.Client(base_url=live.base_url, headers=auth, timeout=30) as http:
            req = factories.funding_request(establishments=[{"finess": factories.finess("24"), "name": "EHPAD"}])
            assert http.post("/v1/funding-requests", json=req).status_code == 201
            for kind, on in (("va_validated", "2024-03-01"), ("vsr_validated", "2024-06-01")):
                assert http.post(f"/v1/funding-requests/{req['galis_ref']}/events",
                                 json={"type": kind, "date": on}).status_code == 201
            pushed = http.post(f"/v1/funding-requests/{req['galis_ref']}/submissions",
                               json={"milestone": "fin_projet", "rows": rows_for(req)})
            assert pushed.status_code == 201, pushed.text
            fill_disk(disk)
            content = noisy_png(side=600)  # about 1 MB each, refused as it arrives

            def upload(n: int) -> int:
                with httpx.Client(base_url=live.base_url, headers=auth, timeout=30) as own:
                    return own.post(f"/v1/submissions/{pushed.json()['id']}/proofs", data={
                        "finess": req["establishments"][0]["finess"], "measured_on": "2024-04-02",
                        "period_start": "2024-01-01", "period_end": "2024-03-31", "signed_by": "Marie Dupont",
                    }, files={"file": (f"capture-{n}.png", content, "image/png")}).status_code

            with ThreadPoolExecutor(max_workers=7) as pool:
                statuses = list(pool.map(upload, range(7)))
            assert statuses == [507] * 7
            assert list((disk / "proofs" / "staging").iterdir()) == []


def test_a_small_upload_refused_at_its_last_flush(database_url: str, tmp_path: Path) -> None:
    """A proof small enough to stay in the staging file's buffer meets the full disk only when it is
    flushed and synced, after the body is read: 507 as well, and no staging file left."""
    with small_disk(tmp_path / "disk", "4m") as disk:
        settings = make_settings(database_url, storage_dir=disk / "proofs")
        with TestClient(create_app(settings), raise_server_exceptions=False) as client:
            api = Api(client)
            submission_id, finess = version_of(api)
            fill_disk(disk)
            refused = api.upload_proof(submission_id, proof_files.pdf(), finess=finess)
            assert refused.status_code == 507 and refused.json()["code"] == "storage_full"
            assert api.count("proof") == 0
            assert list((disk / "proofs" / "staging").iterdir()) == []
