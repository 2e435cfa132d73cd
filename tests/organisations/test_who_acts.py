"""Who acts: organisations, people, mandates and keys of their own, through the API."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from service.access.keys import create_api_key
from service.domain.access import Role
from service.models import utcnow
from tests import factories
from tests.conftest import Api, rows_for


def _manager_key(api: Api, **scope: Any) -> str:
    return api.database.writer.run_sync(lambda session: create_api_key(session, manager=True, **scope)[1])


def test_the_vendor_story_end_to_end(api: Api) -> None:
    """An admin registers an éditeur; the porteur's manager mandates it; the éditeur's manager
    creates its own key and pushes; the porteur withdraws the mandate; the next push is 404 and
    the version pushed before stays."""
    req = api.create_request()
    ref = req["galis_ref"]
    editeur = api.client.post("/v1/organisations", headers=api.auth(api.admin), json={
        "kind": "editeur", "name": "Logiciel DUI SAS", "siret": factories.siret(), "contact_email": "Support@DUI.fr"})
    assert editeur.status_code == 201, editeur.text
    editeur_id = editeur.json()["id"]
    assert editeur.json()["contact_email"] == "support@dui.fr"
    again = api.client.post("/v1/organisations", headers=api.auth(api.admin), json={
        "kind": "editeur", "name": "Doublon", "siret": editeur.json()["siret"]})
    assert again.status_code == 409 and again.json()["code"] == "organisation_exists"

    porteur = _manager_key(api, role=Role.PORTEUR, siret=req["siret"])
    porteur_org = api.client.get("/v1/me", headers=api.auth(porteur)).json()["organisation"]
    assert porteur_org["kind"] == "porteur" and porteur_org["name"] == req["porteur_name"]
    found = api.client.get("/v1/organisations", params={"kind": "editeur"}, headers=api.auth(porteur)).json()
    assert editeur_id in {o["id"] for o in found["items"]}

    granted = api.client.post(f"/v1/funding-requests/{ref}/mandates", headers=api.auth(porteur),
                              json={"editeur_id": editeur_id})
    assert granted.status_code == 201, granted.text
    mandate = granted.json()
    assert mandate["active"] is True and mandate["editeur"]["name"] == "Logiciel DUI SAS"
    granter = mandate["granted_by"]
    assert (granter["type"], granter["organisation"]) == ("api_key", porteur_org) and mandate["revoked_by"] is None
    twice = api.client.post(f"/v1/funding-requests/{ref}/mandates", headers=api.auth(porteur),
                            json={"editeur_id": editeur_id})
    assert twice.status_code == 409 and twice.json()["code"] == "mandate_exists"

    boss = _manager_key(api, organisation_id=editeur_id, label="responsable éditeur")
    made = api.client.post(f"/v1/organisations/{editeur_id}/api-keys", headers=api.auth(boss),
                           json={"label": "serveur de production"})
    assert made.status_code == 201, made.text
    own_key = made.json()["secret"]
    assert made.json()["role"] == "vendor" and made.json()["manager"] is False
    listed = api.client.get(f"/v1/organisations/{editeur_id}/api-keys", headers=api.auth(boss)).json()["items"]
    assert {k["label"] for k in listed} == {"responsable éditeur", "serveur de production"}
    assert own_key not in str(listed)

    # rotation: a new key beside the old one for a week, then the old one is refused
    today = datetime.now(ZoneInfo("Europe/Paris")).date()
    rotated = api.client.post(f"/v1/api-keys/{own_key[:12]}/rotate", headers=api.auth(boss),
                              json={"old_expires_on": (today + timedelta(days=7)).isoformat()})
    assert rotated.status_code == 201, rotated.text
    assert rotated.json()["label"] == "serveur de production" and rotated.json()["manager"] is False
    assert rotated.json()["replaces"]["status"] == "active"
    assert rotated.json()["replaces"]["expires_on"] == (today + timedelta(days=7)).isoformat()
    for key in (own_key, rotated.json()["secret"]):
        assert api.client.get("/v1/me", headers=api.auth(key)).status_code == 200
    too_late = api.client.post(f"/v1/api-keys/{own_key[:12]}/rotate", headers=api.auth(boss),
                               json={"old_expires_on": (today + timedelta(days=40)).isoformat()})
    assert too_late.status_code == 422 and too_late.json()["errors"][0]["code"] == "old_expires_on_invalid"
    assert api.client.post(f"/v1/api-keys/{own_key[:12]}/rotate", headers=api.auth(own_key),
                           json={}).json()["code"] == "manager_required"
    again = api.client.post(f"/v1/api-keys/{rotated.json()['prefix']}/rotate", headers=api.auth(boss), json={})
    assert again.status_code == 201 and again.json()["replaces"]["status"] == "revoked"
    assert api.client.get("/v1/me", headers=api.auth(rotated.json()["secret"])).status_code == 401
    own_key = again.json()["secret"]

    seen = api.client.get("/v1/mandates", headers=api.auth(own_key)).json()["items"]
    assert [m["id"] for m in seen] == [mandate["id"]]  # the éditeur sees its mandate, as the porteur does
    assert [m["id"] for m in api.client.get("/v1/mandates", headers=api.auth(porteur)).json()["items"]] == \
        [mandate["id"]]
    pushed = api.push(ref, {"milestone": "va", "rows": rows_for(req)}, key=own_key)
    assert pushed.status_code == 201, pushed.text

    ended = api.client.delete(f"/v1/mandates/{mandate['id']}", headers=api.auth(porteur))
    assert ended.status_code == 200 and ended.json()["active"] is False and ended.json()["revoked_at"]
    assert ended.json()["revoked_by"] == granter
    refused = api.push(ref, {"milestone": "va", "rows": rows_for(req)}, key=own_key)
    assert refused.status_code == 404 and refused.json()["code"] == "funding_request_not_found"
    versions = api.client.get(f"/v1/funding-requests/{ref}/submissions", headers=api.auth(api.admin)).json()
    assert [v["id"] for v in versions["items"]] == [pushed.json()["id"]]
    assert api.client.delete(f"/v1/mandates/{mandate['id']}", headers=api.auth(porteur)).json()["code"] == \
        "mandate_already_revoked"

    actions = [e["action"] for e in api.client.get("/v1/audit-events", params={"galis_ref": ref},
                                                   headers=api.auth(api.admin)).json()["items"]]
    assert "mandate_granted" in actions and "mandate_revoked" in actions


def test_members_may_not_manage_and_managers_only_their_own(api: Api) -> None:
    req = api.create_request()
    member = api.key("porteur", siret=req["siret"])
    editeur = api.client.post("/v1/organisations", headers=api.auth(api.admin), json={
        "kind": "editeur", "name": "Éditeur", "siret": factories.siret()}).json()
    grant = api.client.post(f"/v1/funding-requests/{req['galis_ref']}/mandates", headers=api.auth(member),
                            json={"editeur_id": editeur["id"]})
    assert grant.status_code == 403 and grant.json()["code"] == "manager_required"
    org = api.client.get("/v1/me", headers=api.auth(member)).json()["organisation"]["id"]
    key = api.client.post(f"/v1/organisations/{org}/api-keys", headers=api.auth(member), json={"label": "x"})
    assert key.status_code == 403 and key.json()["code"] == "manager_required"
    invite = api.client.post(f"/v1/organisations/{org}/people", headers=api.auth(member),
                             json={"email": "a@example.fr"})
    assert invite.status_code == 403
    other = _manager_key(api, role=Role.PORTEUR, siret=factories.siret())  # a manager of another porteur
    assert api.client.post(f"/v1/organisations/{org}/people", headers=api.auth(other),
                           json={"email": "a@example.fr"}).status_code == 404
    unknown = api.client.post(f"/v1/funding-requests/{req['galis_ref']}/mandates", headers=api.auth(api.admin),
                              json={"editeur_id": org})  # a porteur is no éditeur
    assert unknown.status_code == 422 and unknown.json()["errors"][0]["code"] == "editeur_unknown"
    assert api.count("mandate") == 0 and api.count("person") == 0


def test_a_manager_revokes_its_organisations_key_and_a_deactivated_person_loses_its_sessions(api: Api) -> None:
    req = api.create_request()
    boss = _manager_key(api, role=Role.PORTEUR, siret=req["siret"])
    org = api.client.get("/v1/me", headers=api.auth(boss)).json()["organisation"]["id"]
    spare = api.client.post(f"/v1/organisations/{org}/api-keys", headers=api.auth(boss),
                            json={"label": "ancienne clé"}).json()
    revoked = api.client.post(f"/v1/api-keys/{spare['prefix']}/revoke", headers=api.auth(boss))
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert api.client.get("/v1/me", headers=api.auth(spare["secret"])).json()["code"] == "api_key_revoked"

    invited = api.client.post(f"/v1/organisations/{org}/people", headers=api.auth(boss),
                              json={"email": "Marie.Dupont@Example.fr", "role": "manager"})
    assert invited.status_code == 201 and invited.json()["status"] == "invited"
    assert invited.json()["email"] == "marie.dupont@example.fr"
    person = invited.json()["id"]
    with api.database.engine.begin() as conn:  # a console session of hers, as a sign-in opens one
        conn.execute(sa.text("INSERT INTO console_session (token_hash, person_id, csrf_token, created_at, "
                             "last_seen_at, expires_at) VALUES ('h', :p, 'c', :t, :t, :t)"),
                     {"p": person, "t": utcnow()})
    off = api.client.patch(f"/v1/people/{person}", headers=api.auth(boss), json={"active": False})
    assert off.status_code == 200 and off.json()["status"] == "deactivated"
    with api.database.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT ended_at FROM console_session WHERE token_hash = 'h'")).scalar_one()
    people = api.client.get(f"/v1/organisations/{org}/people", headers=api.auth(boss)).json()["items"]
    assert [(p["email"], p["active"]) for p in people] == [("marie.dupont@example.fr", False)]
