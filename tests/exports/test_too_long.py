"""A file the pool does not write in time: its process is killed, the request is answered 503
``export_too_long`` with one log line, nothing is recorded, and the next file is written."""

from __future__ import annotations

import logging
import time
from typing import IO, Any

import pytest

from service.exports import routes
from service.exports.files import CSV_MEDIA_TYPE, write_csv
from service.kit.offload import Offload
from tests.conftest import Api, rows_for


def never_done(rows: Any, handle: IO[bytes]) -> None:
    """A writer that takes far longer than the bound (run in the pool's process)."""
    time.sleep(60)


def test_a_file_past_its_time_is_answered_503_and_leaves_no_trace(api: Api, monkeypatch: pytest.MonkeyPatch,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    req = api.create_request()
    version = api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)}).json()
    app: Any = api.client.app
    real, app.state.offload = app.state.offload, Offload(workers=1, timeout=1)
    try:
        monkeypatch.setitem(routes._FORMATS, "csv", (CSV_MEDIA_TYPE, never_done))
        reads = api.count("audit_event")
        with caplog.at_level(logging.WARNING, logger="service.http.problems"):
            began = time.monotonic()
            answer = api.client.get(f"/v1/submissions/{version['id']}.csv", headers=api.auth(api.admin))
        assert time.monotonic() - began < 20  # the bound, not the writer's 60 s
        assert answer.status_code == 503
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert answer.headers["retry-after"] == "60"
        problem = answer.json()
        assert problem["code"] == "export_too_long" and "produit en 1 s." in problem["detail"]
        assert api.count("audit_event") == reads  # no export_read for a file never sent
        assert [r.getMessage() for r in caplog.records if "too long" in r.getMessage()] == [
            f"file too long to write (GET /v1/submissions/{version['id']}.csv): over 1 s"]
        assert not [r for r in caplog.records if r.exc_info]  # an operating condition: no traceback
        monkeypatch.setitem(routes._FORMATS, "csv", (CSV_MEDIA_TYPE, write_csv))
        again = api.client.get(f"/v1/submissions/{version['id']}.csv", headers=api.auth(api.admin))
        assert again.status_code == 200 and req["establishments"][0]["finess"] in again.text
        assert api.count("audit_event") == reads + 1
    finally:
        app.state.offload.close()
        app.state.offload = real
