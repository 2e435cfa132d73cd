"""Console sessions and forms without a browser: cookies, expiry, CSRF, scope."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from service.main import create_app
from service.models import utcnow
from tests import proof_files
from tests.conftest import Api, make_settings, rows_for

LOOPBACK = "http://127.0.0.1"


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:500]
    return found.group(1)


def sign_in(client: TestClient, key: str) -> Any:
    form = client.get("/console/connexion")
    return client.post("/console/connexion", data={"csrf_token": csrf_of(form.text), "api_key": key},
                       follow_redirects=False)


@pytest.fixture
def console(database_url: str) -> Any:
    with TestClient(create_app(make_settings(database_url)), base_url=LOOPBACK) as client:
        yield client


def test_the_cookie_is_strict_http_only_and_secure_unless_the_public_address_is_plain_http(database_url: str) -> None:
    with TestClient(create_app(make_settings(database_url, public_url="https://console.esms.example")),
                    base_url="https://console.esms.example") as client:
        key = Api(client).key("cnsa_auditor")
        answer = sign_in(client, key)
        assert answer.status_code == 303 and answer.headers["location"] == "/console/controle"
        cookie = answer.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" in cookie and "Path=/console" in cookie
        assert key not in cookie
    # behind a reverse proxy that does not pass the host (nginx's plain proxy_pass
    # http://127.0.0.1:8000; the client's side is https): Secure, from the setting or by default
    for public_url in ("https://indicateurs.esms.example", None):
        settings = make_settings(database_url, public_url=public_url)
        with TestClient(create_app(settings), base_url="https://127.0.0.1:8000") as client:
            assert "Secure" in sign_in(client, key).headers["set-cookie"].split(",")[0], public_url
    with TestClient(create_app(make_settings(database_url)), base_url=LOOPBACK) as client:  # http://127.0.0.1
        assert "Secure" not in sign_in(client, key).headers["set-cookie"].split(",")[0]


def test_a_form_without_its_csrf_token_changes_nothing(console: TestClient) -> None:
    api = Api(console)
    req = api.create_request()
    version = api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)}).json()["id"]
    sign_in(console, api.admin)
    before = {t: api.count(t) for t in ("review", "proof", "proof_request", "audit_event", "control_case")}
    with api.database.engine.connect() as conn:  # closed at once: left open, it holds a lock the next test waits for
        case_id = conn.execute(sa.text("SELECT id FROM control_case")).scalar_one()
    finess = req["establishments"][0]["finess"]
    for token in (None, "pas-le-bon-jeton"):
        extra = {"csrf_token": token} if token else {}
        for path, data in ((f"/console/versions/{version}/decision", {"decision": "accepted"}),
                           (f"/console/dossiers/{case_id}/prise-en-charge", {}),
                           (f"/console/dossiers/{case_id}/demandes-de-preuve",
                            {"finess": finess, "message": "Le rapport."}),
                           (f"/console/dossiers/{case_id}/conclusion", {"outcome": "compliant"}),
                           ("/console/deconnexion", {})):
            answer = console.post(path, data={**data, **extra}, follow_redirects=False)
            assert answer.status_code == 403, path
            assert "csrf_invalid" in answer.text
        uploaded = console.post(f"/console/versions/{version}/preuves", data={
            **extra, "finess": finess, "measured_on": "2024-04-02", "period_start": "2024-01-01",
            "period_end": "2024-03-31", "signed_by": "Marie Dupont"},
            files={"file": ("preuve.pdf", proof_files.pdf(), "application/pdf")}, follow_redirects=False)
        assert uploaded.status_code == 403 and "csrf_invalid" in uploaded.text
    assert {t: api.count(t) for t in before} == before
    assert console.get("/console/controle").status_code == 200  # still signed in: sign-out was refused too
    staging = console.app.state.settings.storage_dir  # type: ignore[attr-defined]
    assert not [p for p in staging.rglob("*") if p.is_file()]  # the refused upload left no file


def test_sign_in_needs_its_own_token(console: TestClient) -> None:
    key = Api(console).key("cnsa_auditor")
    refused = console.post("/console/connexion", data={"api_key": key, "csrf_token": "x"}, follow_redirects=False)
    assert refused.status_code == 403 and "esms_console=" not in refused.headers.get("set-cookie", "")


def test_sessions_end_idle_revoked_or_signed_out(console: TestClient) -> None:
    api = Api(console)
    key = api.key("cnsa_auditor")
    sign_in(console, key)
    assert console.get("/console/controle", follow_redirects=False).status_code == 200
    with api.database.engine.begin() as conn:  # 31 minutes without use
        conn.execute(sa.text("UPDATE console_session SET last_seen_at = :t"), {"t": utcnow() - timedelta(minutes=31)})
    gone = console.get("/console/controle", follow_redirects=False)
    assert gone.status_code == 303 and gone.headers["location"].startswith("/console/connexion")

    sign_in(console, key)
    page = console.get("/console/controle")
    out = console.post("/console/deconnexion", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
    assert out.status_code == 303
    console.cookies.clear()
    with api.database.engine.connect() as conn:
        ended = conn.execute(sa.text("SELECT count(*) FROM console_session WHERE ended_at IS NOT NULL")).scalar_one()
    assert ended == 1  # the idle one simply expired; the second was ended by the sign-out

    sign_in(console, key)
    assert console.post(f"/v1/api-keys/{key[:12]}/revoke", headers=api.auth(api.admin)).status_code == 200
    assert console.get("/console/controle", follow_redirects=False).status_code == 303
    refused = sign_in(console, key)
    assert refused.status_code == 401 and "révoquée" in refused.text
    actions = [e["action"] for e in console.get("/v1/audit-events", headers=api.auth(api.admin)).json()["items"]]
    assert actions.count("console_signed_in") == 3 and "console_signed_out" in actions


def test_every_page_answers_404_outside_the_scope(console: TestClient) -> None:
    api = Api(console)
    req = api.create_request()
    version = api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)}).json()["id"]
    with api.database.engine.connect() as conn:
        case_id = conn.execute(sa.text("SELECT id FROM control_case")).scalar_one()
    sign_in(console, api.key("vendor", galis_refs=["87654321"]))
    for path in (f"/console/versions/{version}", f"/console/versions/{version}/synthese.pdf",
                 f"/console/demandes/{req['galis_ref']}", "/console/versions/pas-une-version", "/console/nulle-part"):
        answer = console.get(path)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("text/html")
    assert console.get(f"/console/dossiers/{case_id}").status_code == 403  # a vendor does not control
    assert console.get("/console/obligations").status_code == 200
    assert req["galis_ref"] not in console.get("/console/obligations").text


def test_long_lists_are_paged(console: TestClient) -> None:
    api = Api(console)
    req = api.create_request()
    for n in range(51):
        assert api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req, dmp_fed=n)}).status_code == 201
    sign_in(console, api.admin)
    first = console.get(f"/console/demandes/{req['galis_ref']}")
    assert first.text.count(">Version ") == 50
    link = re.search(r'<a href="([^"]+)" rel="next">Page suivante</a>', first.text)
    assert link
    rest = console.get(link.group(1).replace("&amp;", "&"))
    assert rest.text.count(">Version ") == 1 and 'rel="next"' not in rest.text
    assert ">Version 1<" in rest.text


def test_the_thread_of_a_request_in_the_console(console: TestClient) -> None:
    api = Api(console)
    req = api.create_request()
    assert sign_in(console, api.key("porteur", siret=req["siret"], label="Association Horizon")).status_code == 303
    path = f"/console/demandes/{req['galis_ref']}/messages"
    page = console.get(path)
    assert page.status_code == 200 and "Aucun message pour l'instant." in page.text
    refused = console.post(path, data={"csrf_token": csrf_of(page.text), "body": "Bonjour\x07"})
    assert refused.status_code == 422 and "text_invalid_characters" in refused.text and "body" in refused.text
    assert api.count("request_message") == 0
    sent = console.post(path, data={"csrf_token": csrf_of(page.text), "body": "Bonjour,\r\n<b>deux</b> lignes."},
                        follow_redirects=False)
    assert sent.status_code == 303 and sent.headers["location"].startswith(path)
    shown = console.get(sent.headers["location"]).text
    assert "Message envoyé." in shown and "Association Horizon" in shown
    assert "Bonjour,\n&lt;b&gt;deux&lt;/b&gt; lignes." in shown  # as text, its lines kept
    console.cookies.clear()
    vendor = api.key("vendor", galis_refs=[req["galis_ref"]])
    assert sign_in(console, vendor).status_code == 303
    assert console.get(path).status_code == 403  # the thread is the porteur's, its ARS's and the CNSA's
