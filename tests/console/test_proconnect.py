"""Signing in to the console with ProConnect: the code flow with PKCE, state and nonce, the ID token
and userinfo verified, the person linked (by identity, invitation or SIRET) or refused with a
French page and a ``sign_in_refused`` audit event, and sign-out through the provider.

Most tests run against ``oidc_stub`` (ES256, JWT userinfo, forged answers); one runs the whole
flow against ``oidc-provider-mock``, a provider we did not write, over real HTTP.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from service.console import proconnect
from service.main import create_app
from tests.conftest import Api, make_settings, rows_for
from tests.console import oidc_stub
from tests.console.test_sessions import sign_in as sign_in_with_key

LOOPBACK = "http://127.0.0.1"
RETURN = f"{LOOPBACK}/console/connexion/proconnect/retour"


@pytest.fixture
def stub() -> Iterator[oidc_stub.Stub]:
    with oidc_stub.running() as running:
        yield running


def console_app(database_url: str, issuer: str, **overrides: Any) -> TestClient:
    settings = make_settings(database_url, oidc_issuer=issuer, oidc_client_id=oidc_stub.CLIENT_ID,
                             oidc_client_secret=oidc_stub.CLIENT_SECRET, **overrides)
    return TestClient(create_app(settings), base_url=LOOPBACK)


@pytest.fixture
def console(database_url: str, stub: oidc_stub.Stub) -> Iterator[TestClient]:
    with console_app(database_url, stub.issuer, oidc_acr_values="eidas1 eidas2") as client:
        yield client


def through_provider(client: TestClient, *, suite: str | None = None) -> httpx.Response:
    """The browser's trip: to the provider, which signs the person in at once, and back."""
    start = client.get("/console/connexion/proconnect", params={"suite": suite} if suite else None,
                       follow_redirects=False)
    assert start.status_code == 303, start.text
    answer = httpx.get(start.headers["location"], follow_redirects=False)
    assert answer.status_code == 302
    back = urlsplit(answer.headers["location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == RETURN
    return client.get(f"{back.path}?{back.query}", follow_redirects=False)


def invite(api: Api, kind: str, email: str, **where: str) -> int:
    orgs = api.client.get("/v1/organisations", params={"kind": kind, "limit": 100},
                          headers=api.auth(api.admin)).json()["items"]
    org = next(o for o in orgs if all(o.get(k) == v for k, v in where.items()))
    made = api.client.post(f"/v1/organisations/{org['id']}/people", headers=api.auth(api.admin),
                           json={"email": email, "role": "member"})
    assert made.status_code == 201, made.text
    return int(made.json()["id"])


def person_row(api: Api, person_id: int) -> Any:
    with api.database.engine.connect() as conn:
        return conn.execute(sa.text("SELECT * FROM person WHERE id = :id"), {"id": person_id}).one()


def payload_of(event: Any) -> Any:
    return event.payload if isinstance(event.payload, dict) else json.loads(event.payload)


def events(api: Api, action: str) -> list[Any]:
    with api.database.engine.connect() as conn:
        return list(conn.execute(sa.text("SELECT * FROM audit_event WHERE action = :a ORDER BY seq"), {"a": action}))


AGENT = {"sub": "agent-42", "email": "Marie.Dupont@ars.sante.fr", "given_name": "Marie", "usual_name": "Dupont",
         "acr": "eidas1", "idp_id": "fia1v2"}


def test_an_invited_agent_signs_in_is_linked_and_named_on_the_pages(console: TestClient, stub: oidc_stub.Stub) -> None:
    api = Api(console)
    person_id = invite(api, "ars", "marie.dupont@ars.sante.fr", region_code="76")
    stub.user = dict(AGENT)

    answer = through_provider(console, suite="/console/obligations")

    assert answer.status_code == 200, answer.text
    assert 'http-equiv="refresh" content="0; url=/console/obligations"' in answer.text
    cookie = answer.headers["set-cookie"]
    assert "esms_console=" in cookie and "SameSite=strict" in cookie and "HttpOnly" in cookie
    page = console.get("/console/obligations")
    assert page.status_code == 200 and "Marie Dupont (ARS Occitanie)" in page.text
    # what the service asked for: code flow, PKCE S256, state and nonce of 32 characters or more,
    # the claims parameter asking for an acceptable acr; the secret sent as the provider wants it
    asked = stub.authorizations[-1]
    assert asked["response_type"] == "code" and asked["code_challenge_method"] == "S256"
    assert len(asked["state"]) >= 32 and len(asked["nonce"]) >= 32 and asked["state"] != asked["nonce"]
    assert json.loads(asked["claims"]) == {"id_token": {"acr": {"essential": True, "values": ["eidas1", "eidas2"]}}}
    assert asked["scope"] == "openid email given_name usual_name siret idp_id" and asked["redirect_uri"] == RETURN
    assert stub.token_requests[-1]["client_secret"] == oidc_stub.CLIENT_SECRET
    linked = person_row(api, person_id)
    assert (linked.issuer, linked.subject, linked.given_name, linked.usual_name) == (
        stub.issuer, "agent-42", "Marie", "Dupont")
    assert linked.last_sign_in_at is not None
    [event] = events(api, "person_linked")
    assert event.actor_person_id == person_id and payload_of(event)["how"] == "invitation"
    assert [e.actor_person_id for e in events(api, "console_signed_in")] == [person_id]

    # the next time, the identity is known: linked by (issuer, sub) even under a new address
    console.cookies.clear()
    stub.user = {**AGENT, "email": "m.dupont@ars.sante.fr"}
    assert through_provider(console).status_code == 200
    assert person_row(api, person_id).email == "m.dupont@ars.sante.fr"
    assert len(events(api, "person_linked")) == 1


def test_a_porteur_s_employee_joins_its_organisation_by_its_siret(console: TestClient, stub: oidc_stub.Stub) -> None:
    api = Api(console)
    req = api.create_request()
    stub.user = {"sub": "porteur-7", "email": "paul@asso.fr", "given_name": "Paul", "usual_name": "Martin",
                 "siret": req["siret"], "acr": "eidas2"}

    assert through_provider(console).status_code == 200

    page = console.get("/console/obligations")
    assert "Paul Martin" in page.text and req["galis_ref"] in page.text
    with api.database.engine.connect() as conn:
        row = conn.execute(sa.text("SELECT p.role, o.kind, o.siret FROM person p JOIN organisation o "
                                   "ON o.id = p.organisation_id WHERE p.subject = 'porteur-7'")).one()
    assert tuple(row) == ("member", "porteur", req["siret"])


@pytest.mark.parametrize("forgery, code, status", [
    ({"id_token_changes": {"nonce": "x" * 43}}, "oidc_id_token_invalid", 400),
    ({"id_token_changes": {"aud": "un-autre-service"}}, "oidc_id_token_invalid", 400),
    ({"id_token_changes": {"exp": 1_000_000_000, "iat": 999_999_000}}, "oidc_id_token_invalid", 400),
    ({"id_token_changes": {"iss": "https://faux.example"}}, "oidc_id_token_invalid", 400),
    ({"id_token_changes": {"exp": None}}, "oidc_id_token_invalid", 400),
    ({"id_token_changes": {"iat": None}}, "oidc_id_token_invalid", 400),
    ({"id_token_changes": {"aud": [oidc_stub.CLIENT_ID, "un-autre-service"]}}, "oidc_id_token_invalid", 400),
    ({"token_answer_html": True}, "oidc_unavailable", 502),
    ({"sign_with_unpublished_key": True}, "oidc_id_token_invalid", 400),
    ({"user": {**AGENT, "acr": "eidas0"}}, "oidc_acr_insufficient", 403),
    ({"user": {k: v for k, v in AGENT.items() if k != "acr"}}, "oidc_acr_insufficient", 403),
    ({"user": {**AGENT, "email": "pas-une-adresse"}}, "oidc_email_missing", 400),
    ({"user": {**AGENT, "sub": "s" * 256}}, "oidc_id_token_invalid", 400),
])
def test_a_token_that_does_not_hold_opens_no_session(console: TestClient, stub: oidc_stub.Stub,
                                                     forgery: dict[str, Any], code: str, status: int) -> None:
    api = Api(console)
    person_id = invite(api, "ars", AGENT["email"].lower(), region_code="76")
    stub.user = dict(AGENT)
    for name, value in forgery.items():
        setattr(stub, name, value)

    answer = through_provider(console)

    assert answer.status_code == status and f"<code>{code}</code>" in answer.text
    assert "Connexion refusée" in answer.text and "esms_console=" not in answer.headers.get("set-cookie", "")
    assert person_row(api, person_id).subject is None and api.count("console_session") == 0
    assert console.get("/console/obligations", follow_redirects=False).status_code == 303


def test_a_return_without_its_state_or_with_a_used_code_is_refused(console: TestClient, stub: oidc_stub.Stub) -> None:
    api = Api(console)
    invite(api, "cnsa", "auditrice@cnsa.fr")
    stub.user = {**AGENT, "sub": "cnsa-1", "email": "auditrice@cnsa.fr"}
    start = console.get("/console/connexion/proconnect", follow_redirects=False)
    back = urlsplit(httpx.get(start.headers["location"], follow_redirects=False).headers["location"])
    query = parse_qs(back.query)

    wrong = console.get(back.path, params={"code": query["code"][0], "state": "a" * 43})
    assert wrong.status_code == 400 and "<code>oidc_state_invalid</code>" in wrong.text
    # the refusal forgot the pending sign-in: the right state no longer helps either
    assert "<code>oidc_state_invalid</code>" in console.get(f"{back.path}?{back.query}").text
    assert stub.token_requests == [] and api.count("console_session") == 0

    # a code used once (a replayed address, the cookie of its sign-in copied too) is refused by the provider
    first = through_provider(console)
    assert first.status_code == 200
    used = urlsplit(str(first.request.url))
    pending = console.get("/console/connexion/proconnect", follow_redirects=False).cookies["esms_proconnect"]
    replay = console.get(f"{used.path}?code={parse_qs(used.query)['code'][0]}&state={pending.split('.')[0]}")
    assert replay.status_code == 400 and "<code>oidc_code_refused</code>" in replay.text
    assert api.count("console_session") == 1

    # the person declined at the provider: said so, nothing asked of the token endpoint
    asked = len(stub.token_requests)
    state = console.get("/console/connexion/proconnect", follow_redirects=False).cookies["esms_proconnect"]
    declined = console.get(f"{back.path}?error=access_denied&state={state.split('.')[0]}")
    assert declined.status_code == 400 and "<code>oidc_error</code>" in declined.text
    assert "access_denied" in declined.text and len(stub.token_requests) == asked


def test_someone_nobody_invited_sees_whom_to_ask_and_only_the_refusal_is_recorded(
        console: TestClient, stub: oidc_stub.Stub) -> None:
    api = Api(console)
    people_before, events_before = api.count("person"), api.count("audit_event")
    stub.user = {**AGENT, "sub": "inconnu", "email": "inconnu@exemple.fr", "siret": "35600000000048"}

    answer = through_provider(console)

    assert answer.status_code == 403 and "<code>person_unknown</code>" in answer.text
    assert "inconnu@exemple.fr" in answer.text and "gestionnaire de votre organisation" in answer.text
    assert api.count("person") == people_before and api.count("console_session") == 0
    assert api.count("audit_event") == events_before + 1
    [refused] = events(api, "sign_in_refused")
    assert payload_of(refused) == {"code": "person_unknown", "issuer": stub.issuer, "subject": "inconnu",
                       "email": "inconnu@exemple.fr", "siret": "35600000000048"}


def test_a_deactivated_person_is_refused_and_its_open_session_ends(console: TestClient, stub: oidc_stub.Stub) -> None:
    api = Api(console)
    person_id = invite(api, "ars", AGENT["email"].lower(), region_code="76")
    stub.user = dict(AGENT)
    assert through_provider(console).status_code == 200
    assert console.get("/console/obligations", follow_redirects=False).status_code == 200

    off = console.patch(f"/v1/people/{person_id}", headers=api.auth(api.admin), json={"active": False})
    assert off.status_code == 200
    assert console.get("/console/obligations", follow_redirects=False).status_code == 303
    again = through_provider(console)
    assert again.status_code == 403 and "<code>person_deactivated</code>" in again.text
    assert [payload_of(e)["code"] for e in events(api, "sign_in_refused")] == ["person_deactivated"]


def test_rs256_tokens_and_json_userinfo_are_read_too(database_url: str, stub: oidc_stub.Stub) -> None:
    stub.alg, stub.userinfo_as_jwt = "RS256", False
    with console_app(database_url, stub.issuer) as client:
        api = Api(client)
        invite(api, "cnsa", "auditrice@cnsa.fr")
        stub.user = {"sub": "cnsa-1", "email": "auditrice@cnsa.fr", "given_name": "Claire", "usual_name": "Roux"}
        answer = through_provider(client)
        assert answer.status_code == 200 and "url=/console/controle" in answer.text
        assert "claims" not in stub.authorizations[-1]  # no acceptable acr configured: none asked for
        assert "Claire Roux (CNSA)" in client.get("/console/controle").text


def test_sign_out_goes_through_the_provider(console: TestClient, stub: oidc_stub.Stub) -> None:
    api = Api(console)
    invite(api, "ars", AGENT["email"].lower(), region_code="76")
    stub.user = dict(AGENT)
    through_provider(console)
    page = console.get("/console/obligations")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf

    out = console.post("/console/deconnexion", data={"csrf_token": csrf.group(1)}, follow_redirects=False)

    assert out.status_code == 303
    target = urlsplit(out.headers["location"])
    assert f"{target.scheme}://{target.netloc}{target.path}" == f"{stub.issuer}/session/end"
    query = {k: v[0] for k, v in parse_qs(target.query).items()}
    with api.database.engine.connect() as conn:
        id_token = conn.execute(sa.text("SELECT id_token FROM console_session")).scalar_one()
    assert query["id_token_hint"] == id_token and len(query["state"]) >= 32
    assert query["post_logout_redirect_uri"] == f"{LOOPBACK}/console/connexion/proconnect/sortie"
    assert console.get("/console/obligations", follow_redirects=False).status_code == 303  # ended at once
    back = console.get("/console/connexion/proconnect/sortie", params={"state": query["state"]})
    assert "déconnecté(e) de la console et de ProConnect" in back.text
    forged = console.get("/console/connexion/proconnect/sortie", params={"state": "b" * 43})
    assert "de ProConnect" not in forged.text


def test_key_sign_in_can_be_turned_off(database_url: str, stub: oidc_stub.Stub) -> None:
    with console_app(database_url, stub.issuer, console_key_sign_in=False) as client:
        api = Api(client)
        form = client.get("/console/connexion")
        assert "S'identifier avec ProConnect" in form.text and 'name="api_key"' not in form.text
        refused = client.post("/console/connexion", data={"csrf_token": "x", "api_key": api.admin})
        assert refused.status_code == 404 and "key_sign_in_disabled" in refused.text
        assert api.count("console_session") == 0
    with TestClient(create_app(make_settings(database_url)), base_url=LOOPBACK) as client:
        form = client.get("/console/connexion")
        assert "ProConnect" not in form.text and 'name="api_key"' in form.text
        assert client.get("/console/connexion/proconnect").status_code == 404
        assert sign_in_with_key(client, Api(client).admin).status_code == 303


def test_an_unreachable_provider_is_said_so(database_url: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with console_app(database_url, f"http://127.0.0.1:{port}") as client:
        answer = client.get("/console/connexion/proconnect", follow_redirects=False)
        assert answer.status_code == 502 and "<code>oidc_unavailable</code>" in answer.text


# --- the provider we did not write ----------------------------------------------------------------

@pytest.fixture(scope="module")
def mock_provider() -> Iterator[str]:
    with oidc_stub.mock_provider() as issuer:
        yield issuer


def test_the_whole_flow_against_oidc_provider_mock(database_url: str, mock_provider: str) -> None:
    oidc_stub.mock_user(mock_provider, "agent-cnsa", email="Lea.Moreau@cnsa.fr", given_name="Léa", usual_name="Moreau",
              acr="eidas1")
    with console_app(database_url, mock_provider, oidc_acr_values="eidas1",
                     oidc_scopes="openid email profile") as client:
        api = Api(client)
        person_id = invite(api, "cnsa", "lea.moreau@cnsa.fr")
        start = client.get("/console/connexion/proconnect", follow_redirects=False)
        with httpx.Client(follow_redirects=False) as browser:
            form = browser.get(start.headers["location"])
            assert form.status_code == 200
            chosen = browser.post(start.headers["location"], data={"sub": "agent-cnsa"})
        assert chosen.status_code == 302, chosen.text
        back = urlsplit(chosen.headers["location"])
        answer = client.get(f"{back.path}?{back.query}", follow_redirects=False)
        assert answer.status_code == 200, answer.text
        assert "Léa Moreau (CNSA)" in client.get("/console/controle").text
        assert person_row(api, person_id).subject == "agent-cnsa"
        # the same code again: the provider refuses it
        again = client.get("/console/connexion/proconnect", follow_redirects=False)
        replay = client.get(f"{back.path}?code={parse_qs(back.query)['code'][0]}"
                            f"&state={again.cookies['esms_proconnect'].split('.')[0]}")
        assert "<code>oidc_code_refused</code>" in replay.text


def csrf_on(page: httpx.Response) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert found, page.text[:300]
    return found.group(1)


def test_what_people_do_in_the_console_is_named_after_them(console: TestClient, stub: oidc_stub.Stub) -> None:
    """A version pushed by a key, decided by an ARS agent, its control case claimed and closed by
    a CNSA auditor: the API, the audit trail, the custody and the pages name each actor."""
    api = Api(console)
    req = api.create_request()
    vendor = api.key("vendor", galis_refs=[req["galis_ref"]], label="Logiciel Horizon")
    version = api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)}, key=vendor).json()
    ars_id = invite(api, "ars", AGENT["email"].lower(), region_code="75")  # FINESS of the Dordogne
    cnsa_id = invite(api, "cnsa", "lea.moreau@cnsa.fr")
    admin = api.auth(api.admin)

    stub.user = dict(AGENT)
    through_provider(console)
    page = console.get(f"/console/versions/{version['id']}")
    assert "clé « Logiciel Horizon »" in page.text
    decided = console.post(f"/console/versions/{version['id']}/decision", follow_redirects=False,
                           data={"csrf_token": csrf_on(page), "decision": "rejected", "comment": "Chiffres à revoir."})
    assert decided.status_code == 303
    console.cookies.clear()

    stub.user = {"sub": "cnsa-9", "email": "lea.moreau@cnsa.fr", "given_name": "Léa", "usual_name": "Moreau",
                 "acr": "eidas1"}
    through_provider(console)
    [case] = console.get("/v1/control-queue", headers=admin).json()["items"]
    page = console.get(f"/console/dossiers/{case['id']}")
    claimed = console.post(f"/console/dossiers/{case['id']}/prise-en-charge", data={"csrf_token": csrf_on(page)},
                           follow_redirects=False)
    assert claimed.status_code == 303
    # the person who claimed it may go on with it (a key's claim is not hers, nor hers another's)
    closed = console.post(f"/console/dossiers/{case['id']}/conclusion", follow_redirects=False,
                          data={"csrf_token": csrf_on(page), "outcome": "compliant", "comment": "Conforme."})
    assert closed.status_code == 303, closed.text
    page = console.get(f"/console/dossiers/{case['id']}")
    assert "Pris en charge par</dt><dd>Léa Moreau (CNSA)" in page.text and "par Léa Moreau (CNSA)" in page.text

    ars = {"type": "person", "id": ars_id, "name": "Marie Dupont",
           "organisation": {"id": person_row(api, ars_id).organisation_id, "name": "ARS Nouvelle-Aquitaine",
                            "kind": "ars"},
           "role": "ars_reviewer", "label": "Marie Dupont (ARS Nouvelle-Aquitaine)"}
    cnsa = {"type": "person", "id": cnsa_id, "name": "Léa Moreau",
            "organisation": {"id": person_row(api, cnsa_id).organisation_id, "name": "CNSA", "kind": "cnsa"},
            "role": "cnsa_auditor", "label": "Léa Moreau (CNSA)"}
    seen = console.get(f"/v1/submissions/{version['id']}", headers=admin).json()
    assert seen["pushed_by"]["type"] == "api_key" and seen["pushed_by"]["name"] == "Logiciel Horizon"
    assert seen["pushed_by"]["organisation"]["kind"] == "editeur"
    [review] = seen["reviews"]
    assert review["decided_by"] == ars
    got = console.get(f"/v1/control-cases/{case['id']}", headers=admin).json()
    assert got["claimed_by"] == cnsa and got["closed_by"] == cnsa
    trail = console.get("/v1/audit-events", params={"galis_ref": req["galis_ref"], "limit": 200},
                        headers=admin).json()["items"]
    by_action = {e["action"]: e["actor"] for e in trail}
    assert by_action["review_recorded"] == {**ars, "key_id": None}
    assert by_action["control_case_claimed"] == by_action["control_outcome_recorded"] == {**cnsa, "key_id": None}
    assert by_action["submission_stored"]["type"] == "api_key"


def test_several_audiences_are_accepted_when_the_token_names_this_client_as_its_party(
        console: TestClient, stub: oidc_stub.Stub) -> None:
    api = Api(console)
    invite(api, "ars", AGENT["email"].lower(), region_code="76")
    stub.user = dict(AGENT)
    stub.id_token_changes = {"aud": [oidc_stub.CLIENT_ID, "un-autre-service"], "azp": oidc_stub.CLIENT_ID}
    assert through_provider(console).status_code == 200


def test_the_pending_cookie_is_only_this_service_s_random_values() -> None:
    made = proconnect.Pending("s" * 43, "n" * 43, "v" * 64, "/console/obligations")
    assert proconnect.Pending.parse(made.cookie()) == made
    for forged in ("...", "a.b.c.d", f"{'s' * 43}..{'v' * 64}.", f"{'s' * 43}.{'n' * 43}.{'v' * 65}.", "x" * 2000):
        assert proconnect.Pending.parse(forged) is None


def test_the_provider_is_reached_through_the_environment_s_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.interne.example:3128")
    monkeypatch.setenv("NO_PROXY", "idp.local.example")
    assert proconnect._proxy_for("https://auth.agentconnect.gouv.fr/api/v2") == "http://proxy.interne.example:3128"
    assert proconnect._proxy_for("https://idp.local.example") is None
    monkeypatch.delenv("HTTPS_PROXY")
    assert proconnect._proxy_for("https://auth.agentconnect.gouv.fr/api/v2") is None


def test_a_person_chooses_how_it_is_told_in_the_console(console: TestClient, stub: oidc_stub.Stub) -> None:
    api = Api(console)
    person_id = invite(api, "ars", AGENT["email"].lower(), region_code="76")
    stub.user = dict(AGENT)
    through_provider(console)
    page = console.get("/console/messages")
    assert page.status_code == 200 and 'href="/console/messages" aria-current="page"' in page.text
    assert "Versions en attente de revue dans votre région" in page.text
    assert 'name="review_queue" value="daily" checked' in page.text  # the ARS's default
    assert 'name="fin_projet"' not in page.text and "Toujours envoyés aussitôt." in page.text  # mandatory
    assert "Demandes de preuve" not in page.text  # a porteur's and the CNSA's, not an ARS's

    refused = console.post("/console/messages", data={"review_queue": "off"}, follow_redirects=False)
    assert refused.status_code == 403  # no form token: nothing changes
    saved = console.post("/console/messages", follow_redirects=False, data={
        "csrf_token": csrf_on(page), "review_queue": "instant", "message": "off", "fin_projet": "off"})
    assert saved.status_code == 303
    with api.database.engine.connect() as conn:
        chosen = dict(conn.execute(sa.text("SELECT category, mode FROM notification_preference WHERE person_id = :p"),
                                   {"p": person_id}).all())
    assert chosen == {"review_queue": "instant", "message": "off"}  # a mandatory category is not offered
    assert 'name="review_queue" value="instant" checked' in console.get("/console/messages").text


def test_a_key_signed_in_has_no_mail_preferences(console: TestClient) -> None:
    api = Api(console)
    form = console.get("/console/connexion")
    console.post("/console/connexion", data={"csrf_token": csrf_on(form), "api_key": api.key("ars_reviewer",
                                                                                             region_code="75")})
    home = console.get("/console/examen")
    assert home.status_code == 200 and "Mes messages" not in home.text
    page = console.get("/console/messages")
    assert page.status_code == 403 and "person_only" in page.text
