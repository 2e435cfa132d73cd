"""A vendor's integrator generates a client from ``openapi/openapi.json`` with openapi-python-client,
installs it with pip into a fresh virtual environment, and pushes a version with it over HTTP to
a running service."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

from tests import factories
from tests.conftest import LiveService

ROOT = Path(__file__).resolve().parent.parent
#: Binary answers (the signed PDF, a proof) as bytes: the generator's documented setting.
GENERATOR_CONFIG = {"content_type_overrides": {t: "application/octet-stream" for t in (
    "application/pdf", "image/png", "image/jpeg",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")}}

PUSH_WITH_THE_CLIENT = """
import json, sys
from indicateurs_dusage_dui_client import AuthenticatedClient
from indicateurs_dusage_dui_client.api.remontees import push_submission
from indicateurs_dusage_dui_client.api.demandes_de_financement import (
    create_funding_request, get_funding_request, record_funding_request_event)
from indicateurs_dusage_dui_client.models import FundingRequestCreate, LifecycleEventCreate, SubmissionCreate

base_url, key, request, body = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), json.loads(sys.argv[4])
client = AuthenticatedClient(base_url=base_url, token=key)
created = create_funding_request.sync_detailed(client=client, body=FundingRequestCreate.from_dict(request))
va = LifecycleEventCreate.from_dict({"type": "va_validated", "date": "2024-03-01"})
opened = record_funding_request_event.sync_detailed(request["galis_ref"], client=client, body=va)
assert opened.status_code == 201, opened.content
pushed = push_submission.sync_detailed(request["galis_ref"], client=client, body=SubmissionCreate.from_dict(body))
missing = get_funding_request.sync_detailed("99999999", client=client)
print(json.dumps({"created": created.status_code, "pushed": pushed.status_code,
                  "version": pushed.parsed.version, "rates": pushed.parsed.rows[0].indicators.active_files.rate,
                  "missing": missing.status_code, "missing_code": missing.parsed.code}))
"""


def test_a_generated_client_installs_with_pip_and_pushes_a_version(live_service: LiveService,
                                                                   tmp_path: Path) -> None:
    base_url, key = live_service.base_url, live_service.admin_key
    config = tmp_path / "generator.json"
    config.write_text(json.dumps(GENERATOR_CONFIG))
    tools = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    generated = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(ROOT / "openapi" / "openapi.json"),
         "--meta", "setup", "--config", str(config), "--output-path", str(tmp_path / "client")],
        capture_output=True, text=True, env=tools, timeout=300)
    assert generated.returncode == 0, generated.stdout + generated.stderr
    assert "Warning" not in generated.stdout, generated.stdout
    setup = (tmp_path / "client" / "setup.py").read_text()
    assert 'name="indicateurs-dusage-dui-client"' in setup

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    # pip, setuptools and the client's own dependencies (httpx, attrs, python-dateutil) are those
    # of the service's environment, seen through a .pth (the machine may not download); pip
    # builds the client and installs it into the new environment.
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "service-dependencies.pth").write_text(sysconfig.get_path("purelib") + "\n")
    installed = subprocess.run([str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation",
                                "--no-index", "--disable-pip-version-check", str(tmp_path / "client")],
                               capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, installed.stdout + installed.stderr

    request = factories.funding_request()
    body = {"milestone": "va", "rows": [factories.row(finess=e["finess"], raison_sociale=e["name"])
                                        for e in request["establishments"]]}
    where = subprocess.run([str(python), "-c", "import indicateurs_dusage_dui_client as c; print(c.__file__)"],
                           capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert where.startswith(str(venv)), where
    pushed = subprocess.run([str(python), "-c", PUSH_WITH_THE_CLIENT, base_url, key, json.dumps(request),
                             json.dumps(body)], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert pushed.returncode == 0, pushed.stderr
    result = json.loads(pushed.stdout.strip().splitlines()[-1])
    assert result["created"] == 201 and result["pushed"] == 201 and result["version"] == 1, result
    assert result["rates"] == 95.0
    assert (result["missing"], result["missing_code"]) == (404, "funding_request_not_found")
