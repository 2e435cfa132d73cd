"""Review, control and audit, the whole story through HTTP, on SQLite and PostgreSQL.

A request is registered, its VA validated; the vendor pushes, the ARS asks for changes, the
vendor pushes again, the ARS accepts. The VSR opens the fin de projet: a push without proof
cannot be accepted until the proofs are uploaded. The CNSA works the scored case: one proof
request is answered by an upload, another is left overdue; the outcome is recorded. The
balance is paid and nothing more is accepted. The audit chain verifies, and an event edited
in the database is found.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from tests import factories, proof_files
from tests.conftest import Api, rows_for
from tests.test_cli import run_cli


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == code, body
    return body  # type: ignore[no-any-return]


def test_the_whole_story(api: Api, database_url: str) -> None:
    client = api.client
    establishments = [{"finess": factories.finess("33"), "name": "EHPAD Les Tilleuls", "category": "500"},
                      {"finess": factories.finess("33"), "name": "SSIAD du Médoc", "category": "354"}]
    req = api.create_request(va_on=None, establishments=establishments)
    ref = req["galis_ref"]
    a, b = (e["finess"] for e in establishments)
    ars = api.auth(api.key("ars_reviewer", region_code="75", label="ARS Nouvelle-Aquitaine"))
    other_ars = api.auth(api.key("ars_reviewer", region_code="84"))
    cnsa = api.auth(api.key("cnsa_auditor", label="Auditrice CNSA"))
    vendor_key = api.key("vendor", galis_refs=[ref], label="Éditeur DUI")
    vendor = api.auth(vendor_key)
    porteur = api.auth(api.key("porteur", siret=req["siret"]))

    # VA validated by the ARS; the vendor pushes; the ARS asks for changes
    ok(client.post(f"/v1/funding-requests/{ref}/events", json={"type": "va_validated", "date": "2024-03-01"},
                   headers=ars), 201)
    first = ok(api.push(ref, {"milestone": "va", "rows": rows_for(req, active_dui=120)}, key=vendor_key), 201)
    queue = ok(client.get("/v1/review-queue", headers=ars))["items"]
    assert [(i["id"], i["warning_count"] > 0) for i in queue] == [(first["id"], True)]
    assert ok(client.get("/v1/review-queue", headers=other_ars))["items"] == []
    problem(client.post(f"/v1/submissions/{first['id']}/reviews", json={"decision": "changes_requested"},
                        headers=ars), 422, "validation_failed")
    asked = ok(client.post(f"/v1/submissions/{first['id']}/reviews", headers=ars, json={
        "decision": "changes_requested", "comment": "Plus de DUI actifs que de personnes accompagnées."}), 201)
    assert asked["decided_by"]["label"] == "ARS Nouvelle-Aquitaine"
    assert ok(client.get("/v1/review-queue", headers=ars))["items"] == []

    # the vendor pushes again; the first version can no longer be decided; the ARS accepts
    second = ok(api.push(ref, {"milestone": "va", "rows": rows_for(req)}, key=vendor_key), 201)
    assert [i["id"] for i in ok(client.get("/v1/review-queue", headers=ars))["items"]] == [second["id"]]
    problem(client.post(f"/v1/submissions/{first['id']}/reviews", json={"decision": "accepted"}, headers=ars),
            409, "submission_superseded")
    problem(client.post(f"/v1/submissions/{second['id']}/reviews", json={"decision": "accepted"}, headers=vendor),
            403, "role_not_allowed")
    ok(client.post(f"/v1/submissions/{second['id']}/reviews", json={"decision": "accepted"}, headers=ars), 201)
    problem(client.post(f"/v1/submissions/{second['id']}/reviews", json={"decision": "rejected", "comment": "non"},
                        headers=ars), 409, "submission_already_reviewed")
    assert ok(client.get(f"/v1/submissions/{second['id']}", headers=vendor))["reviews"][0]["decision"] == "accepted"

    # VSR: fin de projet opens; a push without proof cannot be accepted
    vsr_on = (datetime.now(UTC).date() - timedelta(days=30)).isoformat()
    ok(client.post(f"/v1/funding-requests/{ref}/events", json={"type": "vsr_validated", "date": vsr_on},
                   headers=ars), 201)
    final = ok(api.push(ref, {"milestone": "fin_projet", "rows": rows_for(req)}, key=vendor_key), 201)
    queued = ok(client.get("/v1/review-queue", headers=ars))["items"]
    assert queued[0]["id"] == final["id"] and 55 <= queued[0]["days_left"] <= 62 and not queued[0]["overdue"]
    refused = problem(client.post(f"/v1/submissions/{final['id']}/reviews", json={"decision": "accepted"},
                                  headers=ars), 409, "proofs_missing")
    assert a in refused["detail"] and b in refused["detail"]

    # the CNSA sees every version as a scored case; the fin de projet one flags the missing proofs
    cases = ok(client.get("/v1/control-queue", headers=cnsa))["items"]
    assert {c["submission_id"] for c in cases} == {first["id"], second["id"], final["id"]}
    assert [c["score"] for c in cases] == sorted((c["score"] for c in cases), reverse=True)
    by_version = {c["submission_id"]: c for c in cases}
    assert by_version[first["id"]]["superseded"] is True
    assert "active_exceeds_accompanied" in {r["code"] for r in by_version[first["id"]]["reasons"]}
    final_case = by_version[final["id"]]
    missing = next(r for r in final_case["reasons"] if r["code"] == "proofs_missing")
    assert missing["message"].startswith("Fin de projet : 2 établissements sur 2 sans preuve d'usage")
    assert ok(client.get("/v1/control-queue", params={"milestone": "fin_projet"}, headers=cnsa))["items"][0]["id"] \
        == final_case["id"]
    assert ok(client.get("/v1/control-queue", params={"region": "84"}, headers=cnsa))["items"] == []
    problem(client.get("/v1/control-queue", headers=ars), 403, "role_not_allowed")

    # proofs uploaded: the case's proof reason goes, and the ARS accepts
    for finess in (a, b):
        ok(api.upload_proof(final["id"], proof_files.pdf(), key=vendor_key, finess=finess), 201)
    refreshed = ok(client.get(f"/v1/control-cases/{final_case['id']}", headers=cnsa))
    assert "proofs_missing" not in {r["code"] for r in refreshed["reasons"]}
    assert refreshed["score"] == final_case["score"] - missing["points"]
    ok(client.post(f"/v1/submissions/{final['id']}/reviews", json={"decision": "accepted"}, headers=ars), 201)

    # the CNSA claims the case and asks for two proofs within 48 hours
    claimed = ok(client.post(f"/v1/control-cases/{final_case['id']}/claim", headers=cnsa))
    assert claimed["status"] == "claimed" and claimed["claimed_by"]["label"] == "Auditrice CNSA"
    problem(client.post(f"/v1/control-cases/{final_case['id']}/proof-requests", headers=cnsa,
                        json={"finess": factories.finess("33"), "message": "Rapport ?"}), 422, "validation_failed")
    asked_a = ok(client.post(f"/v1/control-cases/{final_case['id']}/proof-requests", headers=cnsa,
                             json={"finess": a, "message": "Rapport signé du nombre de DUI actifs."}), 201)
    due = datetime.fromisoformat(asked_a["due_at"]) - datetime.fromisoformat(asked_a["requested_at"])
    assert due == timedelta(hours=48) and asked_a["status"] == "open"
    asked_b = ok(client.post(f"/v1/control-cases/{final_case['id']}/proof-requests", headers=cnsa,
                             json={"finess": b, "message": "Capture d'écran de l'agenda."}), 201)
    pending = ok(client.get("/v1/proof-requests", params={"status": "open"}, headers=porteur))["items"]
    assert {p["id"] for p in pending} == {asked_a["id"], asked_b["id"]}
    assert ok(client.get("/v1/proof-requests", headers=other_ars))["items"] == []

    # an upload for the FINESS of request A answers it; request B is left past its due time
    answered = ok(api.upload_proof(final["id"], proof_files.png(), key=vendor_key, finess=a, filename="agenda.png",
                                   content_type="image/png"), 201)
    assert answered["answers_proof_requests"] == [asked_a["id"]]
    with api.database.engine.begin() as conn:
        conn.execute(sa.text("UPDATE proof_request SET due_at = :at WHERE id = :id"),
                     {"at": datetime.now(UTC) - timedelta(hours=1), "id": asked_b["id"]})
    overdue = ok(client.get("/v1/proof-requests", params={"status": "overdue"}, headers=cnsa))["items"]
    assert [(p["id"], p["overdue"]) for p in overdue] == [(asked_b["id"], True)]
    requests = {p["id"]: p for p in ok(client.get(f"/v1/control-cases/{final_case['id']}", headers=cnsa))
                ["proof_requests"]}
    assert requests[asked_a["id"]]["status"] == "answered" and requests[asked_a["id"]]["proof_id"] == answered["id"]
    assert requests[asked_b["id"]]["status"] == "overdue"

    # the outcome closes the case
    problem(client.post(f"/v1/control-cases/{final_case['id']}/outcome", json={"outcome": "non_compliant"},
                        headers=cnsa), 422, "validation_failed")
    closed = ok(client.post(f"/v1/control-cases/{final_case['id']}/outcome", headers=cnsa, json={
        "outcome": "non_compliant", "comment": "Preuve du SSIAD non fournie dans les 48 heures."}))
    assert (closed["status"], closed["outcome"]) == ("closed", "non_compliant")
    problem(client.post(f"/v1/control-cases/{final_case['id']}/claim", headers=cnsa), 409, "control_case_closed")

    # the balance is paid: nothing more is accepted
    ok(client.post(f"/v1/funding-requests/{ref}/events", headers=ars,
                   json={"type": "balance_paid", "date": datetime.now(UTC).date().isoformat()}), 201)
    problem(api.push(ref, {"milestone": "fin_projet", "rows": rows_for(req)}, key=vendor_key), 409, "request_closed")
    problem(client.post(f"/v1/submissions/{first['id']}/reviews", json={"decision": "accepted"}, headers=ars),
            409, "request_closed")

    # where the request stands, in one call
    standing = ok(client.get(f"/v1/funding-requests/{ref}/lifecycle", headers=porteur))
    assert standing["status"] == "closed"
    va, fin = standing["milestones"]
    assert (va["latest_version"]["version"], va["review"]["decision"]) == (2, "accepted")
    assert (fin["latest_version"]["id"], fin["review"]["decision"]) == (final["id"], "accepted")
    assert (fin["control"]["status"], fin["control"]["outcome"]) == ("closed", "non_compliant")
    assert fin["proofs_missing"] == [] and fin["due_on"] is not None

    # the audit trail, scoped, in chain order
    events = ok(client.get("/v1/audit-events", params={"galis_ref": ref, "limit": 500}, headers=ars))["items"]
    actions = [e["action"] for e in events]
    for action in ("funding_request_created", "lifecycle_event_recorded", "submission_stored", "review_recorded",
                   "proof_stored", "control_case_claimed", "proof_requested", "proof_request_answered",
                   "control_outcome_recorded"):
        assert action in actions, action
    assert actions[0] == "funding_request_created" and actions[-1] == "lifecycle_event_recorded"
    assert [e["seq"] for e in events] == sorted(e["seq"] for e in events)
    stored = next(e for e in events if e["object_id"] == final["id"] and e["action"] == "submission_stored")
    assert stored["actor"]["label"] == "Éditeur DUI" and stored["payload"]["fingerprint"] == final["fingerprint"]
    problem(client.get("/v1/audit-events", params={"galis_ref": ref}, headers=other_ars), 404,
            "funding_request_not_found")
    national = ok(client.get("/v1/audit-events", params={"limit": 500}, headers=cnsa))["items"]
    assert "api_key_created" in {e["action"] for e in national}

    # the chain verifies; an event edited in the database is found
    verified = run_cli(database_url, "audit", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "intègre" in verified.stdout
    victim = next(e for e in events if e["action"] == "review_recorded")
    with api.database.engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_event SET actor_label = 'ARS Corse' WHERE seq = :seq"),
                     {"seq": victim["seq"]})
    tampered = run_cli(database_url, "audit", "verify")
    assert tampered.returncode == 1
    assert f"événement n° {victim['seq']}" in tampered.stdout and "modifié" in tampered.stdout


def test_audit_verify_finds_a_removed_event_and_an_edited_payload(api: Api, database_url: str) -> None:
    req = api.create_request()
    assert api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)}).status_code == 201
    with api.database.engine.connect() as conn:
        last = conn.execute(sa.text("SELECT max(seq) FROM audit_event")).scalar_one()
    api.sequence()  # a removal is caught once the event is in the log (within a second of its commit)
    assert run_cli(database_url, "audit", "verify").returncode == 0
    with api.database.engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit_event WHERE seq = :seq"), {"seq": last})
    removed = run_cli(database_url, "audit", "verify")
    assert removed.returncode == 1 and "retirés" in removed.stdout


def test_a_newer_version_replaces_a_pending_one_in_the_queue_and_only_ars_or_admin_review(api: Api) -> None:
    req = api.create_request()
    ars = api.auth(api.key("ars_reviewer", region_code="75"))
    first = api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)}).json()
    second = api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req, dmp_fed=41)}).json()
    queue = ok(api.client.get("/v1/review-queue", headers=ars))
    assert [i["version"] for i in queue["items"]] == [2] and queue["items"][0]["id"] == second["id"]
    assert first["id"] != second["id"]
    problem(api.client.get("/v1/review-queue", headers=api.auth(api.key("cnsa_auditor"))), 403, "role_not_allowed")
    cursor = api.client.get("/v1/control-queue", params={"cursor": "not-a-cursor"},
                            headers=api.auth(api.key("cnsa_auditor")))
    assert cursor.status_code == 422 and cursor.json()["errors"][0]["code"] == "invalid_cursor"


def test_malformed_cursors_and_control_characters_are_refused_not_failed(api: Api) -> None:
    import base64
    import json

    cnsa = api.auth(api.key("cnsa_auditor"))

    def cursor(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    for path, value in (("/v1/control-queue", {"score": 1, "at": "2024-01-01T00:00:00", "id": "x"}),
                        ("/v1/control-queue", {"score": 1, "at": "0001-01-01T00:00:00+01:00", "id": "x"}),
                        ("/v1/control-queue", {"score": 2**63, "at": "2024-01-01T00:00:00+00:00", "id": "x"}),
                        ("/v1/audit-events", {"seq": 10**30}),
                        ("/v1/proof-requests", {"at": "2024-01-01", "id": "x"})):
        response = api.client.get(path, params={"cursor": cursor(value)}, headers=cnsa)
        assert response.status_code == 422 and response.json()["errors"][0]["code"] == "invalid_cursor", value
    req = api.create_request()
    pushed = api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)}).json()
    ars = api.auth(api.key("ars_reviewer", region_code="75"))
    response = api.client.post(f"/v1/submissions/{pushed['id']}/reviews", headers=ars,
                               json={"decision": "rejected", "comment": "a\u0000b"})
    assert response.status_code == 422 and response.json()["errors"][0]["code"] == "text_invalid_characters"
    assert api.count("review") == 0
