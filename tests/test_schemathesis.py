"""The whole OpenAPI description against the running app, with Schemathesis (a tool we did not
write): generated requests for every operation, in-process, seeded, with a bounded number of
examples, for an admin key and for a vendor key.

The checks: no server error, every status code and content type documented, every body as its
schema says, 405 with ``Allow`` for an undocumented method, and schema-valid data accepted
(``positive_data_acceptance``: 2xx, or 401/403/404/409 — never 400 or 422 for data the schema
says is valid), with two exceptions written down below:

* the operations whose rules relate fields to each other or to stored facts, which no schema can
  say (``RULES_BEYOND_THE_SCHEMA``), may answer 422 to schema-valid data, with the rule named;
* a page cursor is opaque (a client passes back the ``next_cursor`` it was given): generated
  cursors are replaced by real ones taken from the service, so that a cursor refused is a defect.

The identifiers' formats (``finess``, ``siret``) get strategies that honour their check keys.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from alembic import command
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.python import asgi
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    positive_data_acceptance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)
from sqlmodel import Session
from stdnum import luhn

from service.demo import seed_demo
from service.domain.identifiers import DEPARTMENT_REGION
from service.kit.db import create_db_engine
from service.kit.mailing import Mailing
from service.main import create_app
from tests import factories
from tests.conftest import alembic_config, make_settings
from tests.registry import extracts

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance, content_type_conformance,
          unsupported_method, positive_data_acceptance]
SEED = 20261201
MAX_EXAMPLES = 15
DEFAULT_ACCEPTED = ["2xx", "3xx", "401", "403", "404", "409", "429", "5xx"]

#: operation -> (what it may answer besides, why): the rules that relate fields to each other or
#: to stored facts, and the file contents judged by their bytes, which no schema can say.
RULES_BEYOND_THE_SCHEMA: dict[str, tuple[list[str], str]] = {
    "create_funding_request": (["422"], "all establishments in one région; a FINESS once per request"),
    "record_funding_request_event": (["422"], "dates against today and the milestones already recorded"),
    "push_submission": (["415", "422"], "rows exactly the request's FINESS; I, J ≤ G; periods; an Idempotency-Key "
                                        "reused with another body; a file that is an xlsx template"),
    "upload_proof": (["415", "422"], "a PDF, PNG or JPEG file; the FINESS and period declared in the version"),
    "request_proof": (["422"], "the FINESS one of the version's"),
    "get_inclusion_proof": (["422"], "the index and size within the tree as it is now"),
    "get_consistency_proof": (["422"], "both sizes within the tree as it is now, the first not above the second"),
    "import_finess_extract": (["409", "422"], "a file in the FINESS extract's format, not older than the latest"),
    "import_funding_requests": (["422"], "a CSV with the header and the lines of valid funding requests"),
    "put_target_set": (["422"], "a set for every campaign and category stays"),
    "create_webhook": (["422"], "an https URL whose host resolves to public addresses only (in tests: loopback)"),
    "create_organisation_api_key": (["422"], "an expiry after today"),
    "rotate_api_key": (["422"], "the old key refused from a day within the next month; an expiry after today"),
    "create_organisation": (["422"], "an e-mail address whose domain may receive mail (not .test, .local…)"),
    "update_organisation": (["422"], "an e-mail address whose domain may receive mail (not .test, .local…)"),
    "invite_person": (["422"], "an e-mail address whose domain may receive mail (not .test, .local…)"),
    "grant_mandate": (["422"], "a registered éditeur; a period that ends after it starts and not in the past"),
}

#: The app under test, on a SQLite file of its own; ``world`` migrates and seeds it.
FOLDER = Path(tempfile.mkdtemp(prefix="esms-schemathesis-"))
URL = f"sqlite:///{FOLDER / 'service.sqlite3'}"
APP = create_app(make_settings(URL, storage_dir=FOLDER / "proofs"))

_OPERATIONS = "".join(f"""
[[operations]]
include-operation-id = "{operation}"
checks.positive_data_acceptance.expected-statuses = {DEFAULT_ACCEPTED + also}
""" for operation, (also, _why) in RULES_BEYOND_THE_SCHEMA.items())

schema = schemathesis.openapi.from_dict(APP.openapi(), config=SchemathesisConfig.from_str(f"""
seed = {SEED}
suppress-health-check = ["all"]

[generation]
max-examples = {MAX_EXAMPLES}
database = "none"
deterministic = true

[phases.stateful]
enabled = false
{_OPERATIONS}"""))
schema.app = APP  # requests go to the app in-process (what from_asgi does once it has fetched the description)


def _finess(department: str, body: int) -> str:
    digits = f"{department}{body:06d}"
    numeric = digits.replace("2A", "21", 1).replace("2B", "22", 1)
    return digits + luhn.calc_check_digit(numeric)


def _siret(body: int) -> str:
    digits = f"{body:013d}"
    return digits + luhn.calc_check_digit(digits)


schemathesis.openapi.format("finess", st.builds(_finess, st.sampled_from(sorted(DEPARTMENT_REGION)),
                                                st.integers(0, 999_999)))
schemathesis.openapi.format("siret", st.builds(_siret, st.integers(1, 10**13 - 1)))

#: operationId -> a cursor the service gave for that list (filled by ``world``).
CURSORS: dict[str, str] = {}


def _with_real_cursor(case: Any) -> Any:
    """A generated cursor replaced by one the service gave for that list."""
    operation_id = case.operation.definition.raw.get("operationId")
    if case.query and "cursor" in case.query and operation_id in CURSORS:
        case.query = {**case.query, "cursor": CURSORS[operation_id]}
    return case


@pytest.fixture(scope="module")
def world() -> Iterator[dict[str, str]]:
    """The demo data (requests 12345678… are the examples of the description, so examples reach
    real objects), two versions, two control cases with proof requests, and a real cursor for
    every list."""
    command.upgrade(alembic_config(URL), "head")
    engine = create_db_engine(URL, pool_size=1, write=True)
    with Session(engine, expire_on_commit=False) as session, session.begin():
        keys = seed_demo(session, keys_file=FOLDER / "demo-keys.json", today=date.today(),
                         mailing=Mailing.from_settings(APP.state.settings))
    engine.dispose()
    with asgi.get_client(APP) as client:  # the lifespan stays up for the test cases
        admin = {"Authorization": f"Bearer {keys['admin']}"}
        for ref, finess, name in (("12345678", "240000372", "EHPAD Les Tilleuls"),
                                  ("12345678", "240000372", "EHPAD Les Tilleuls")):
            row = factories.row(finess=finess, raison_sociale=name)
            pushed = client.post(f"/v1/funding-requests/{ref}/submissions", json={"milestone": "va", "rows": [row]},
                                 headers=admin)
            assert pushed.status_code == 201, pushed.text
        rows = [factories.row(finess=f, raison_sociale="X") for f in ("160000253", "160013207", "330000126")]
        assert client.post("/v1/funding-requests/23456789/submissions", json={"milestone": "va", "rows": rows},
                           headers=admin).status_code == 201
        cases = client.get("/v1/control-queue", headers=admin).json()["items"]
        for case in cases[:2]:
            finess = "240000372" if case["galis_ref"] == "12345678" else "160000253"
            asked = client.post(f"/v1/control-cases/{case['id']}/proof-requests", headers=admin,
                                json={"finess": finess, "message": "Rapport signé, s'il vous plaît."})
            assert asked.status_code == 201, asked.text
        lists = {"list_funding_requests": "/v1/funding-requests",
                 "list_submissions": "/v1/funding-requests/12345678/submissions",
                 "review_queue": "/v1/review-queue", "control_queue": "/v1/control-queue",
                 "list_proof_requests": "/v1/proof-requests", "list_audit_events": "/v1/audit-events",
                 "list_api_keys": "/v1/api-keys", "list_changed_submissions": "/v1/submissions",
                 "list_finess_imports": "/v1/registry/finess-imports", "list_obligations": "/v1/obligations"}
        for day in ("2026-06-30", "2026-11-30"):  # two snapshots of the FINESS registry
            imported = client.post("/v1/registry/finess-imports", headers=admin, files={"file": (
                "etalab.csv", extracts.extract([extracts.Et("240000372", "EHPAD Les Tilleuls", "24")], day=day),
                "text/csv")})
            assert imported.status_code == 201, imported.text
        for path in ("/first", "/second"):  # nothing listens there: the deliveries stay pending
            created = client.post("/v1/webhooks", headers=admin, json={"url": f"http://127.0.0.1:9{path}",
                                                                       "events": ["submission.stored"]})
            assert created.status_code == 201, created.text
        lists["list_webhooks"] = "/v1/webhooks"
        administration = client.get("/v1/me", headers=admin).json()["organisation"]["id"]
        for n in (1, 2):
            assert client.post(f"/v1/organisations/{administration}/people", headers=admin, json={
                "email": f"agent{n}@example.fr", "role": "member"}).status_code == 201
        assert client.post(f"/v1/organisations/{administration}/api-keys", headers=admin,
                           json={"label": "seconde clé"}).status_code == 201
        lists |= {"list_organisations": "/v1/organisations", "list_mandates": "/v1/mandates",
                  "list_people": f"/v1/organisations/{administration}/people",
                  "list_organisation_api_keys": f"/v1/organisations/{administration}/api-keys"}
        siret = client.get("/v1/funding-requests/12345678", headers=admin).json()["siret"]
        porteur = next(o for o in client.get("/v1/organisations", params={"limit": 500}, headers=admin).json()["items"]
                       if o["kind"] == "porteur" and o["siret"] == siret)
        assert client.patch(f"/v1/organisations/{porteur['id']}", headers=admin,
                            json={"contact_email": "contact@porteur.fr"}).status_code == 200
        for n in (1, 2):  # two messages, each mailed to the porteur's contact address
            assert client.post("/v1/funding-requests/12345678/messages", headers=admin,
                               json={"body": f"Message {n}"}).status_code == 201
        lists |= {"list_request_messages": "/v1/funding-requests/12345678/messages", "list_mail": "/v1/mail"}
        APP.state.sequencer.run_once()  # the log's first checkpoint and leaves
        for operation_id, path in lists.items():
            page = client.get(path, params={"limit": 1}, headers=admin).json()
            assert page["next_cursor"], (operation_id, page)
            CURSORS[operation_id] = page["next_cursor"]
    yield keys
    asgi.shutdown_lifespans()


def test_every_operation_is_exercised() -> None:
    operations = {op.ok().definition.raw["operationId"] for op in schema.get_all_operations()}
    assert operations >= set(RULES_BEYOND_THE_SCHEMA) and len(operations) >= 30, sorted(operations)


@schema.parametrize()
def test_the_api_as_an_admin_sees_it(case: Any, world: dict[str, str]) -> None:
    _with_real_cursor(case).call_and_validate(headers={"Authorization": f"Bearer {world['admin']}"}, checks=CHECKS)


@schema.parametrize()
def test_the_api_as_a_vendor_sees_it(case: Any, world: dict[str, str]) -> None:
    _with_real_cursor(case).call_and_validate(headers={"Authorization": f"Bearer {world['vendor']}"}, checks=CHECKS)
