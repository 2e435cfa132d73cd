"""Authorization matrix: every role × every route × an object in and out of its scope.

A role that may not take an action answers 403 whatever the object; otherwise an object out of
scope answers 404 (it is not revealed).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
import sqlalchemy as sa

from service.access.keys import create_api_key, find_principal, hash_key
from service.audit import trail as audit
from service.domain.access import Role
from service.organisations import directory, people
from service.webhooks.subscriptions import create_subscription
from tests import factories, proof_files, template_files
from tests.conftest import Api, rows_for
from tests.registry import extracts

ROLES = ("admin", "ars_reviewer", "cnsa_auditor", "porteur", "vendor")
NATIONAL = {"admin", "cnsa_auditor"}
MAY_RECORD_EVENTS = {"admin", "ars_reviewer"}
MAY_PUSH = {"admin", "porteur", "vendor"}
MAY_REVIEW = {"admin", "ars_reviewer"}
MAY_CONTROL = {"admin", "cnsa_auditor"}
MAY_FOLLOW_CHANGES = {"admin", "cnsa_auditor", "ars_reviewer"}
TABLES = ("api_key", "submission", "lifecycle_event", "funding_request", "proof", "review", "control_case",
          "proof_request", "audit_event", "organisation", "person", "mandate")


@dataclass
class World:
    api: Api
    keys: dict[str, str]
    requests: dict[str, dict[str, Any]]  # "in" (région 75, the porteur's and vendor's) and "out" (Corse)
    submissions: dict[str, str]
    proofs: dict[str, str]
    cases: dict[str, str]
    spare_key: str  # a key nobody uses, to revoke
    webhooks: dict[str, tuple[str, str]]  # per role (and "other"): its subscription and one of its deliveries
    organisations: dict[str, int]  # the porteur organisation of each request
    people: dict[str, int]  # a person of each
    mandates: dict[str, str]  # a mandate on each request
    editeur: int  # an éditeur nobody's key belongs to


@pytest.fixture
def world(api: Api) -> World:
    inside = api.create_request(establishments=[{"finess": factories.finess("24"), "name": "EHPAD A"}])
    outside = api.create_request(establishments=[{"finess": factories.finess("2A"), "name": "EHPAD B"}])
    scopes = {"ars_reviewer": {"region_code": "75"}, "cnsa_auditor": {}, "porteur": {"siret": inside["siret"]},
              "vendor": {"galis_refs": [inside["galis_ref"]]}, "other": {"label": "une autre clé"},
              "spare": {"label": "clé à révoquer"}}
    roles = {"other": "cnsa_auditor", "spare": "vendor"}
    keys = {"admin": api.admin, **api.database.writer.run_sync(lambda session: {  # one transaction for them all
        name: create_api_key(session, role=Role(roles.get(name, name)), **scope)[1] for name, scope in scopes.items()})}
    spare = keys.pop("spare")

    def people_and_mandates(session: Any) -> tuple[dict[str, int], dict[str, int], dict[str, str], int]:
        orgs = {scope: directory.porteur_of(session, req["siret"]).id for scope, req in (("in", inside),
                                                                                         ("out", outside))}
        persons = {scope: people.invite(session, audit.OPERATOR, org, email=f"personne.{scope}@example.fr",
                                        role="member")["id"] for scope, org in orgs.items()}
        create_api_key(session, role=Role.VENDOR, galis_refs=[outside["galis_ref"]], label="éditeur du dehors")
        given = {scope: session.execute(sa.text("SELECT id FROM mandate WHERE galis_ref = :r"),
                                        {"r": req["galis_ref"]}).scalar_one()
                 for scope, req in (("in", inside), ("out", outside))}
        editeur = directory.register_editeur(session, audit.OPERATOR, name="Éditeur libre", siret=factories.siret(),
                                             contact_email=None)["id"]
        return orgs, persons, given, editeur

    organisations, persons, mandates, editeur = api.database.writer.run_sync(people_and_mandates)

    def subscribe_all(session: Any) -> dict[str, str]:  # one transaction for the six
        return {role: create_subscription(session, found.principal, {
            "url": "http://127.0.0.1:9/hook", "events": ["submission.stored"]}, max_per_key=20)["id"]
            for role, key in keys.items() if (found := find_principal(session, hash_key(key), date.today()))
            is not None}

    # each key's subscription, told of the pushes below (nothing listens: they stay pending)
    webhooks = api.database.writer.run_sync(subscribe_all)
    assert len(webhooks) == len(keys)
    submissions, proofs = {}, {}
    for scope, req in (("in", inside), ("out", outside)):
        pushed = api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)})
        assert pushed.status_code == 201
        submissions[scope] = pushed.json()["id"]
        uploaded = api.upload_proof(submissions[scope], proof_files.pdf(), finess=req["establishments"][0]["finess"])
        assert uploaded.status_code == 201, uploaded.text
        proofs[scope] = uploaded.json()["id"]
    with api.database.engine.connect() as conn:
        cases = {scope: conn.execute(sa.text("SELECT id FROM control_case WHERE submission_id = :s"),
                                     {"s": submissions[scope]}).scalar_one() for scope in submissions}
        deliveries = {role: conn.execute(sa.text("SELECT min(id) FROM webhook_delivery WHERE subscription_id = :s"),
                                         {"s": sub}).scalar_one() for role, sub in webhooks.items()}
    return World(api, keys, {"in": inside, "out": outside}, submissions, proofs, cases,
                 spare,
                 {role: (sub, deliveries[role]) for role, sub in webhooks.items()}, organisations, persons, mandates,
                 editeur)


def call(world: World, route: str, scope: str, key: str | None) -> Any:
    client = world.api.client
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    req = world.requests[scope]
    ref = req["galis_ref"]
    if route == "create_request":
        department = "24" if scope == "in" else "2A"
        body = factories.funding_request(establishments=[{"finess": factories.finess(department), "name": "X"}])
        return client.post("/v1/funding-requests", json=body, headers=headers)
    if route == "import_requests":
        department = "24" if scope == "in" else "2A"
        line = [factories.galis_ref(), factories.siret(), "Porteur", "2024", factories.finess(department), "EHPAD",
                "500"]
        content = ("galis_ref;siret;porteur_name;campaign_year;finess;name;category\n" + ";".join(line) + "\n")
        return client.post("/v1/funding-requests/imports", headers=headers,
                           files={"file": ("demandes.csv", content.encode(), "text/csv")})
    if route == "list_requests":
        return client.get("/v1/funding-requests", headers=headers)
    if route == "get_request":
        return client.get(f"/v1/funding-requests/{ref}", headers=headers)
    if route == "record_event":
        return client.post(f"/v1/funding-requests/{ref}/events", json={"type": "vsr_validated", "date": "2024-06-01"},
                           headers=headers)
    if route == "list_events":
        return client.get(f"/v1/funding-requests/{ref}/events", headers=headers)
    if route == "request_template":
        return client.get(f"/v1/funding-requests/{ref}/template.xlsx", headers=headers)
    if route == "push":
        return client.post(f"/v1/funding-requests/{ref}/submissions",
                           json={"milestone": "va", "rows": rows_for(req)}, headers=headers)
    if route == "push_xlsx":
        return client.post(f"/v1/funding-requests/{ref}/submissions", data={"milestone": "va"}, headers=headers,
                           files={"file": (f"mesures-usage-{ref}.xlsx", template_files.workbook(
                               [template_files.line(ref, req["siret"], r) for r in rows_for(req)]))})
    if route.startswith("export_version_"):
        return client.get(f"/v1/submissions/{world.submissions[scope]}.{route[-4:].strip('_')}", headers=headers)
    if route.startswith("export_latest_"):
        return client.get(f"/v1/exports/submissions.{route[-4:].strip('_')}", params={"milestone": "va"},
                          headers=headers)
    if route == "review_submission":
        return client.post(f"/v1/submissions/{world.submissions[scope]}/reviews", json={"decision": "accepted"},
                           headers=headers)
    if route == "review_queue":
        return client.get("/v1/review-queue", headers=headers)
    if route == "lifecycle":
        return client.get(f"/v1/funding-requests/{ref}/lifecycle", headers=headers)
    if route == "control_queue":
        return client.get("/v1/control-queue", headers=headers)
    if route == "get_control_case":
        return client.get(f"/v1/control-cases/{world.cases[scope]}", headers=headers)
    if route == "claim_control_case":
        return client.post(f"/v1/control-cases/{world.cases[scope]}/claim", headers=headers)
    if route == "request_proof":
        return client.post(f"/v1/control-cases/{world.cases[scope]}/proof-requests", headers=headers,
                           json={"finess": req["establishments"][0]["finess"], "message": "Rapport signé SVP."})
    if route == "control_outcome":
        return client.post(f"/v1/control-cases/{world.cases[scope]}/outcome", json={"outcome": "compliant"},
                           headers=headers)
    if route == "list_proof_requests":
        return client.get("/v1/proof-requests", headers=headers)
    if route == "audit_events":
        return client.get("/v1/audit-events", params={"galis_ref": ref}, headers=headers)
    if route == "get_report":
        return client.get(f"/v1/submissions/{world.submissions[scope]}/report.pdf", headers=headers)
    if route == "verify_report":
        report = client.get(f"/v1/submissions/{world.submissions[scope]}/report.pdf",
                            headers={"Authorization": f"Bearer {world.api.admin}"}).content
        return client.post("/v1/reports/verify", files={"file": ("synthese.pdf", report, "application/pdf")},
                           headers=headers)
    if route == "list_versions":
        return client.get(f"/v1/funding-requests/{ref}/submissions", headers=headers)
    if route == "get_submission":
        return client.get(f"/v1/submissions/{world.submissions[scope]}", headers=headers)
    if route == "upload_proof":
        return client.post(f"/v1/submissions/{world.submissions[scope]}/proofs", headers=headers,
                           files={"file": ("preuve.pdf", PROOF, "application/pdf")},
                           data={"finess": req["establishments"][0]["finess"], "measured_on": "2024-04-02",
                                 "period_start": "2024-01-01", "period_end": "2024-03-31", "signed_by": "M. Martin"})
    if route == "get_proof":
        return client.get(f"/v1/proofs/{world.proofs[scope]}", headers=headers)
    if route == "get_proof_content":
        return client.get(f"/v1/proofs/{world.proofs[scope]}/content", headers=headers)
    if route.startswith("log_"):
        world.api.sequence()
        path, params = {"log_checkpoint": ("/v1/log/checkpoint", {}), "log_key": ("/v1/log/key", {}),
                        "log_inclusion": ("/v1/log/proofs/inclusion", {"index": 0, "tree_size": 2}),
                        "log_consistency": ("/v1/log/proofs/consistency", {"first": 1, "second": 2}),
                        "log_timestamp": ("/v1/log/checkpoint/timestamp", {})}[route]
        return client.get(path, params=params, headers=headers)
    if route == "submission_evidence":
        return client.get(f"/v1/submissions/{world.submissions[scope]}/evidence.zip", headers=headers)
    if route == "case_evidence":
        return client.get(f"/v1/control-cases/{world.cases[scope]}/evidence.zip", headers=headers)
    if route == "proof_custody":
        return client.get(f"/v1/proofs/{world.proofs[scope]}/custody", headers=headers)
    if route == "changed_submissions":
        return client.get("/v1/submissions", headers=headers)
    if route == "import_finess":
        return client.post("/v1/registry/finess-imports", headers=headers, files={"file": (
            "etalab.csv", extracts.extract([extracts.Et(req["establishments"][0]["finess"], "EHPAD", "24")]),
            "text/csv")})
    if route == "list_finess_imports":
        return client.get("/v1/registry/finess-imports", headers=headers)
    if route == "registry_establishment":
        return client.get(f"/v1/registry/finess/{req['establishments'][0]['finess']}", headers=headers)
    if route == "establishment_comparison":
        return client.get(f"/v1/establishments/{req['establishments'][0]['finess']}/comparison",
                          params={"milestone": "va"}, headers=headers)
    if route == "list_obligations":
        return client.get("/v1/obligations", params={"limit": 500}, headers=headers)
    if route == "export_follow_up":
        return client.get("/v1/exports/follow-up.xlsx", headers=headers)
    if route == "reporting_statistics":
        return client.get("/v1/statistics/reporting", params={"milestone": "va"}, headers=headers)
    if route == "indicator_statistics":
        return client.get("/v1/statistics/indicators", params={"milestone": "va", "group_by": "region"},
                          headers=headers)
    if route == "list_target_sets":
        return client.get("/v1/target-sets", headers=headers)
    if route == "put_target_set":
        return client.post("/v1/target-sets", headers=headers, json={
            "id": f"jeu-{scope}", "label": "Campagne 2025", "campaign_year": 2025, "category": None,
            "values": {"active_files": 90, "personal_plan": 90, "agenda": 90, "mssante": 70, "dmp": 70},
            "binding": True})
    if route.endswith("webhook") or route.endswith("webhooks") or route.endswith("webhook_deliveries") \
            or route == "retry_webhook_delivery":
        role = next((r for r, k in world.keys.items() if k == key), "other")
        sub, delivery = world.webhooks[role if scope == "in" else "other"]
        if route == "create_webhook":
            return client.post("/v1/webhooks", headers=headers, json={"url": "http://127.0.0.1:9/autre",
                                                                      "events": ["review.decided"]})
        if route == "list_webhooks":
            return client.get("/v1/webhooks", headers=headers)
        if route == "delete_webhook":
            return client.delete(f"/v1/webhooks/{sub}", headers=headers)
        if route == "list_webhook_deliveries":
            return client.get(f"/v1/webhooks/{sub}/deliveries", headers=headers)
        return client.post(f"/v1/webhooks/{sub}/deliveries/{delivery}/retry", headers=headers)
    if route == "list_api_keys":
        return client.get("/v1/api-keys", headers=headers)
    org = world.organisations[scope]
    if route == "create_organisation":
        return client.post("/v1/organisations", headers=headers, json={"kind": "editeur", "name": "Nouvel éditeur",
                                                                       "siret": factories.siret()})
    if route == "list_organisations":
        return client.get("/v1/organisations", headers=headers)
    if route == "get_organisation":
        return client.get(f"/v1/organisations/{org}", headers=headers)
    if route == "update_organisation":
        return client.patch(f"/v1/organisations/{org}", headers=headers, json={"contact_email": "contact@example.fr"})
    if route == "invite_person":
        return client.post(f"/v1/organisations/{org}/people", headers=headers,
                           json={"email": "invitee@example.fr", "role": "member"})
    if route == "list_people":
        return client.get(f"/v1/organisations/{org}/people", headers=headers)
    if route == "update_person":
        return client.patch(f"/v1/people/{world.people[scope]}", headers=headers, json={"role": "manager"})
    if route == "create_organisation_api_key":
        return client.post(f"/v1/organisations/{org}/api-keys", headers=headers, json={"label": "clé neuve"})
    if route == "list_organisation_api_keys":
        return client.get(f"/v1/organisations/{org}/api-keys", headers=headers)
    if route == "grant_mandate":
        return client.post(f"/v1/funding-requests/{ref}/mandates", headers=headers, json={"editeur_id": world.editeur})
    if route == "revoke_mandate":
        return client.delete(f"/v1/mandates/{world.mandates[scope]}", headers=headers)
    if route == "list_mandates":
        return client.get("/v1/mandates", headers=headers)
    if route == "get_me":
        return client.get("/v1/me", headers=headers)
    if route == "revoke_api_key":
        return client.post(f"/v1/api-keys/{world.spare_key[:12]}/revoke", headers=headers)
    if route == "rotate_api_key":
        return client.post(f"/v1/api-keys/{world.spare_key[:12]}/rotate", headers=headers, json={})
    if route == "list_request_messages":
        return client.get(f"/v1/funding-requests/{ref}/messages", headers=headers)
    if route == "post_request_message":
        return client.post(f"/v1/funding-requests/{ref}/messages", headers=headers, json={"body": "Bonjour,\nMerci."})
    if route == "get_my_notifications":
        return client.get("/v1/me/notifications", headers=headers)
    if route == "put_my_notifications":
        return client.put("/v1/me/notifications", headers=headers, json={"items": []})
    if route == "list_mail":
        return client.get("/v1/mail", params={"galis_ref": ref}, headers=headers)
    raise AssertionError(route)


PROOF = proof_files.pdf()
ROUTES = ("create_request", "import_requests", "list_requests", "get_request", "record_event", "list_events", "push",
          "push_xlsx",
          "list_versions", "get_submission", "upload_proof", "get_proof", "get_proof_content",
          "export_version_xlsx", "export_version_csv", "export_latest_xlsx", "export_latest_csv",
          "review_submission", "review_queue", "lifecycle", "control_queue", "get_control_case",
          "claim_control_case", "request_proof", "control_outcome", "list_proof_requests", "audit_events",
          "get_report", "verify_report", "list_api_keys", "revoke_api_key", "log_checkpoint", "log_key",
          "log_inclusion", "log_consistency", "log_timestamp", "submission_evidence", "case_evidence",
          "proof_custody", "changed_submissions", "import_finess", "list_finess_imports",
          "registry_establishment", "list_target_sets", "put_target_set", "indicator_statistics",
          "establishment_comparison", "reporting_statistics", "export_follow_up",
          "list_obligations", "create_webhook", "list_webhooks", "delete_webhook", "list_webhook_deliveries",
          "retry_webhook_delivery", "create_organisation", "list_organisations", "get_organisation",
          "update_organisation", "invite_person", "list_people", "update_person", "create_organisation_api_key",
          "list_organisation_api_keys", "grant_mandate", "revoke_mandate", "list_mandates", "get_me",
          "request_template", "rotate_api_key", "list_request_messages", "post_request_message",
          "get_my_notifications", "put_my_notifications", "list_mail")
#: Routes of the matrix that are another body of an operation already listed.
VARIANTS = ("push_xlsx",)


def expected_status(role: str, route: str, scope: str) -> int:
    if route == "create_request":
        if role == "admin" or (role == "ars_reviewer" and scope == "in"):
            return 201
        return 403
    if route == "import_requests":
        if role == "admin" or (role == "ars_reviewer" and scope == "in"):
            return 201
        return 422 if role == "ars_reviewer" else 403  # an ARS is told the line out of its région
    if route in ("list_requests", "export_latest_xlsx", "export_latest_csv", "list_proof_requests", "verify_report",
                 "log_checkpoint", "log_key", "log_inclusion", "log_consistency"):
        return 200
    if route == "review_queue":
        return 200 if role in MAY_REVIEW else 403
    if route == "log_timestamp":
        return 404  # no time-stamping authority in this world: the same answer for every key
    if route == "list_api_keys":
        return 200 if role == "admin" else 403
    if route == "revoke_api_key":  # the spare key is an éditeur's of its own: nobody else's organisation
        return 200 if role == "admin" else 404
    if route == "rotate_api_key":
        return 201 if role == "admin" else 404
    if route == "create_organisation":
        return 201 if role == "admin" else 403
    if route in ("list_organisations", "list_mandates", "get_me"):
        return 200
    if route in ("get_my_notifications", "put_my_notifications"):
        return 403  # a key receives no mail: preferences are a person's
    if route == "list_mail":
        return 200 if role == "admin" else 403
    if route in ("list_request_messages", "post_request_message") and role == "vendor":
        return 403
    if route in ("get_organisation", "update_organisation", "invite_person", "list_people", "update_person",
                 "create_organisation_api_key", "list_organisation_api_keys"):
        # the porteur organisation of each request: seen by the national roles and its own people;
        # changed by its managers (the porteur's key here is a member) and administrators
        if role == "admin":
            return 201 if route in ("invite_person", "create_organisation_api_key") else 200
        if not (role == "cnsa_auditor" or (role == "porteur" and scope == "in")):
            return 404
        return 200 if route in ("get_organisation",) or (route == "list_people" and role == "porteur") else 403
    if route in ("grant_mandate", "revoke_mandate"):
        if role == "admin":
            return 201 if route == "grant_mandate" else 200
        if role not in ("porteur", "vendor") or (route == "grant_mandate" and role == "vendor"):
            return 403
        return 403 if scope == "in" else 404  # in scope: a member, not a manager
    if route in ("changed_submissions", "indicator_statistics", "reporting_statistics", "export_follow_up"):
        return 200 if role in MAY_FOLLOW_CHANGES else 403
    if route == "import_finess":
        return 201 if role == "admin" else 403
    if route in ("list_finess_imports", "list_target_sets", "list_obligations"):
        return 200
    if route == "put_target_set":
        return 201 if role == "admin" else 403
    if route == "registry_establishment":
        return 404  # nothing imported in this world: the same answer for every key
    if route in ("create_webhook", "list_webhooks"):  # any key, for itself
        return 201 if route == "create_webhook" else 200
    if route in ("delete_webhook", "list_webhook_deliveries", "retry_webhook_delivery"):
        if scope == "out":  # another key's subscription
            return 404
        return 204 if route == "delete_webhook" else 200
    if route in ("control_queue", "get_control_case", "claim_control_case", "control_outcome", "request_proof",
                 "case_evidence"):
        if role not in MAY_CONTROL:
            return 403
        return 201 if route == "request_proof" else 200
    # The role is judged before the object (and before the body is read): a role that may not
    # act is refused alike in scope and out of it, which reveals nothing about the object.
    if route == "record_event" and role not in MAY_RECORD_EVENTS:
        return 403
    if route == "review_submission" and role not in MAY_REVIEW:
        return 403
    if route in ("push", "push_xlsx", "upload_proof") and role not in MAY_PUSH:
        return 403
    if not (role in NATIONAL or scope == "in"):
        return 404
    return 201 if route in ("record_event", "review_submission", "push", "push_xlsx", "upload_proof",
                            "post_request_message") else 200


@pytest.mark.parametrize("scope", ["in", "out"])
@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("role", ROLES)
def test_authorization_matrix(world: World, role: str, route: str, scope: str) -> None:
    before = [world.api.count(table) for table in TABLES]
    response = call(world, route, scope, world.keys[role])
    status = expected_status(role, route, scope)
    assert response.status_code == status, response.text
    if status >= 400:
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["status"] == status
        after = [world.api.count(table) for table in TABLES]
        assert after == before, "a refused request changed nothing"
    if status == 404:
        # the answer does not tell an object out of scope from one that does not exist
        assert response.json()["code"] in ("funding_request_not_found", "submission_not_found", "proof_not_found",
                                           "timestamp_not_found", "finess_not_in_registry",
                                           "establishment_not_found", "webhook_not_found", "api_key_not_found",
                                           "organisation_not_found", "person_not_found", "mandate_not_found")
    if route == "list_requests":
        listed = {item["galis_ref"] for item in response.json()["items"]}
        assert (world.requests[scope]["galis_ref"] in listed) == (role in NATIONAL or scope == "in")
    if route == "export_latest_csv":
        exported = {line.split(";")[0] for line in response.content.decode("utf-8-sig").splitlines()[1:]}
        assert (world.requests[scope]["galis_ref"] in exported) == (role in NATIONAL or scope == "in")
    if route == "verify_report":
        assert response.json()["valid"] is True
        assert response.json()["certifies"]["found"] is (role in NATIONAL or scope == "in")
    if route == "reporting_statistics" and status == 200:
        assert {g["group"] for g in response.json()["groups"]} == ({"75", "94"} if role in NATIONAL else {"75"})
    if route == "indicator_statistics" and status == 200:
        regions = {g["group"]["region"] for g in response.json()["groups"]}
        assert regions <= ({"75", "94"} if role in NATIONAL else {"75"})
    if route == "list_obligations":
        owed = {item["galis_ref"] for item in response.json()["items"]}
        assert (world.requests[scope]["galis_ref"] in owed) == (role in NATIONAL or scope == "in")
    if route == "changed_submissions" and status == 200:
        changed = {item["galis_ref"] for item in response.json()["items"]}
        assert (world.requests[scope]["galis_ref"] in changed) == (role in NATIONAL or scope == "in")
    if route in ("submission_evidence", "case_evidence") and status == 200:
        assert response.headers["content-type"] == "application/zip" and response.content[:2] == b"PK"
    if route == "list_webhooks":
        assert [item["id"] for item in response.json()["items"]] == [world.webhooks[role][0]]
    if route == "list_webhook_deliveries" and status == 200:
        assert [d["id"] for d in response.json()["items"]] and all(
            d["event"] == "submission.stored" for d in response.json()["items"])
    if route == "review_queue" and status == 200:
        queued = {item["galis_ref"] for item in response.json()["items"]}
        assert (world.requests[scope]["galis_ref"] in queued) == (role == "admin" or scope == "in")


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize("key", [None, "esms_not-a-real-key"])
def test_every_v1_route_requires_a_valid_key(world: World, route: str, key: str | None) -> None:
    response = call(world, route, "in", key)
    assert response.status_code == 401
    assert response.json()["code"] == ("unauthenticated" if key is None else "invalid_api_key")
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_every_v1_route_of_the_app_is_in_the_matrix(api: Api) -> None:
    from service.main import create_app

    operations = {(method, path) for path, item in create_app().openapi()["paths"].items()
                  for method in item if path.startswith("/v1")}
    assert len(operations) == len(ROUTES) - len(VARIANTS), sorted(operations)
