from __future__ import annotations

from typing import Any

import pytest

from service.submissions.schemas import SubmissionOut
from tests import factories
from tests.conftest import Api, rows_for

API_MD_EXAMPLE: dict[str, Any] = {
    "milestone": "va",
    "rows": [{"finess": "240000372", "raison_sociale": "EHPAD Les Tilleuls",
              "dmp_fed": 40, "mss_messages_sent": 120, "active_dui": 95,
              "persons_accompanied": 100, "dui_with_personal_plan": 90,
              "dui_with_agenda_event": 93,
              "period_start": "2024-01-01", "period_end": "2024-03-31"}],
}


def tilleuls(api: Api) -> tuple[str, str]:
    """The request of the contract's example, and a vendor mandated for it."""
    payload = api.create_request(galis_ref="12345678", siret="73282932000074",
                                 establishments=[{"finess": "240000372", "name": "EHPAD Les Tilleuls",
                                                  "category": "500"}])
    return payload["galis_ref"], api.key("vendor", galis_refs=[payload["galis_ref"]])


class TestPushSubmission:
    def test_contract_example_is_version_1_then_version_2(self, api: Api) -> None:
        ref, vendor = tilleuls(api)
        first = api.push(ref, API_MD_EXAMPLE, key=vendor)
        assert first.status_code == 201, first.text
        body = first.json()
        assert (body["version"], body["milestone"], body["status"]) == (1, "va", "received")
        indicators = body["rows"][0]["indicators"]
        assert indicators["active_files"] == {"numerator": 95, "denominator": 100, "rate": 95.0,
                                              "target": 90.0, "met": True}
        assert indicators["dmp"]["rate"] == 44.4 and indicators["dmp"]["met"] is False
        assert body["targets_met"] is False
        assert body["pushed_by"]["role"] == "vendor"
        SubmissionOut.model_validate(body)  # the push body is sent without a second validation

        second = api.push(ref, API_MD_EXAMPLE, key=vendor)
        assert second.status_code == 201
        assert second.json()["version"] == 2
        assert second.json()["supersedes_version"] == 1
        assert api.count("submission") == 2 and api.count("submission_row") == 2

    def test_plan_above_active_dui_is_refused_at_column_i_and_nothing_is_stored(self, api: Api) -> None:
        ref, vendor = tilleuls(api)
        body = factories.submission(factories.row(dui_with_personal_plan=96))
        response = api.push(ref, body, key=vendor)
        assert response.status_code == 422
        assert response.headers["content-type"].startswith("application/problem+json")
        problem = response.json()
        assert problem["status"] == 422 and problem["code"] == "validation_failed"
        assert problem["errors"] == [{
            "row": 1, "column": "I", "field": "dui_with_personal_plan", "code": "personal_plan_exceeds_active",
            "message": problem["errors"][0]["message"]}]
        assert "96" in problem["errors"][0]["message"]
        assert api.count("submission") == 0 and api.count("submission_row") == 0
        # the refused push consumed no version number
        assert api.push(ref, API_MD_EXAMPLE, key=vendor).json()["version"] == 1

    def test_finess_with_a_wrong_check_key_is_named(self, api: Api) -> None:
        ref, vendor = tilleuls(api)
        response = api.push(ref, factories.submission(factories.row(finess="240000373")), key=vendor)
        assert response.status_code == 422
        errors = response.json()["errors"]
        checksum = next(e for e in errors if e["code"] == "finess_checksum")
        assert checksum["column"] == "C" and checksum["row"] == 1
        assert "240000373" in checksum["message"] and "attendu 2, lu 3" in checksum["message"]

    def test_every_error_is_reported_with_row_and_column(self, api: Api) -> None:
        req = api.create_request(establishments=[
            {"finess": factories.finess("24"), "name": "A"}, {"finess": factories.finess("33"), "name": "B"}])
        rows = rows_for(req)
        rows[0].update(active_dui="95", period_end="31/03/2024")
        rows[1].update(dui_with_agenda_event=1000, dmp_fed=-3)
        response = api.push(req["galis_ref"], {"milestone": "va", "rows": rows})
        assert response.status_code == 422
        found = {(e["row"], e["column"], e["code"]) for e in response.json()["errors"]}
        assert found == {(1, "G", "not_an_integer"), (1, "L", "invalid_date"),
                         (2, "J", "agenda_exceeds_active"), (2, "E", "negative_count")}

    def test_declaration_must_cover_exactly_the_establishments_of_the_request(self, api: Api) -> None:
        req = api.create_request(establishments=[
            {"finess": factories.finess("24"), "name": "A"}, {"finess": factories.finess("24"), "name": "B"}])
        stranger = factories.finess("24")
        rows = [rows_for(req)[0], factories.row(finess=stranger)]
        response = api.push(req["galis_ref"], {"milestone": "va", "rows": rows})
        assert response.status_code == 422
        found = {(e["code"], e["row"]) for e in response.json()["errors"]}
        assert found == {("finess_not_in_request", 2), ("finess_missing", None)}
        missing = next(e for e in response.json()["errors"] if e["code"] == "finess_missing")
        assert req["establishments"][1]["finess"] in missing["message"]

    def test_warnings_are_returned_and_kept_with_the_version(self, api: Api) -> None:
        req = api.create_request()
        rows = rows_for(req, active_dui=120, dui_with_personal_plan=100, dui_with_agenda_event=100, dmp_fed=10)
        response = api.push(req["galis_ref"], {"milestone": "va", "rows": rows})
        assert response.status_code == 201
        codes = {(w["code"], w["column"]) for w in response.json()["warnings"]}
        assert ("active_exceeds_accompanied", "G") in codes
        stored = api.client.get(f"/v1/submissions/{response.json()['id']}", headers=api.auth(api.admin))
        assert stored.json()["warnings"] == response.json()["warnings"]

    def test_dry_run_validates_and_stores_nothing(self, api: Api) -> None:
        req = api.create_request()
        response = api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)}, dry_run="true")
        assert response.status_code == 200
        assert response.json()["status"] == "dry_run" and response.json()["version"] is None
        assert response.json()["rows"][0]["indicators"]["active_files"]["rate"] == 95.0
        assert api.count("submission") == 0
        bad = api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req, active_dui=-1)}, dry_run="true")
        assert bad.status_code == 422

    def test_idempotency_key_replays_the_same_version(self, api: Api) -> None:
        req = api.create_request()
        body = {"milestone": "va", "rows": rows_for(req)}
        headers = {"Idempotency-Key": "push-2024-03-31-abc"}
        first = api.push(req["galis_ref"], body, headers=headers)
        replay = api.push(req["galis_ref"], body, headers=headers)
        assert (first.status_code, replay.status_code) == (201, 200)
        assert replay.json()["id"] == first.json()["id"] and replay.json()["version"] == 1
        assert api.count("submission") == 1

        other = api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req, dmp_fed=41)}, headers=headers)
        assert other.status_code == 422
        assert other.json()["errors"][0]["code"] == "idempotency_key_reused"
        assert api.count("submission") == 1

    def test_push_before_the_milestone_opens_is_a_conflict(self, api: Api) -> None:
        req = api.create_request(va_on=None)
        response = api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)})
        assert response.status_code == 409 and response.json()["code"] == "milestone_not_open"
        fin = api.create_request()
        response = api.push(fin["galis_ref"], {"milestone": "fin_projet", "rows": rows_for(fin)})
        assert response.status_code == 409 and response.json()["code"] == "milestone_not_open"

    def test_push_after_the_balance_is_paid_is_refused(self, api: Api) -> None:
        req = api.create_request(vsr_on="2024-06-01")
        assert api.push(req["galis_ref"], {"milestone": "fin_projet", "rows": rows_for(req)}).status_code == 201
        api.event(req["galis_ref"], "balance_paid", "2024-10-01")
        for milestone in ("va", "fin_projet"):
            response = api.push(req["galis_ref"], {"milestone": milestone, "rows": rows_for(req)})
            assert response.status_code == 409 and response.json()["code"] == "request_closed"
        assert api.count("submission") == 1

    def test_late_fin_de_projet_push_is_accepted_with_a_warning(self, api: Api) -> None:
        req = api.create_request(vsr_on="2024-06-01")  # due 2024-09-01, long past
        response = api.push(req["galis_ref"], {"milestone": "fin_projet", "rows": rows_for(req)})
        assert response.status_code == 201
        assert response.json()["warnings"][0]["code"] == "deadline_passed"

    def test_versions_are_numbered_per_milestone(self, api: Api) -> None:
        req = api.create_request(vsr_on="2024-06-01")
        versions = [api.push(req["galis_ref"], {"milestone": m, "rows": rows_for(req)}).json()["version"]
                    for m in ("va", "va", "fin_projet", "va", "fin_projet")]
        assert versions == [1, 2, 1, 3, 2]

    @pytest.mark.parametrize(("content", "content_type", "status", "code"), [
        (b'{"milestone": "va", "rows": [', "application/json", 400, "malformed_json"),
        (b"milestone=va", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (b"[1, 2]", "application/json", 422, "validation_failed"),
    ])
    def test_malformed_bodies_get_a_problem(self, api: Api, content: bytes, content_type: str, status: int,
                                            code: str) -> None:
        req = api.create_request()
        response = api.client.post(f"/v1/funding-requests/{req['galis_ref']}/submissions", content=content,
                                   headers={**api.auth(api.admin), "Content-Type": content_type})
        assert response.status_code == status
        assert response.json()["code"] == code
        assert api.count("submission") == 0

    def test_body_over_the_size_limit_is_refused(self, api: Api) -> None:
        req = api.create_request()
        limit = api.client.app.state.settings.max_json_body_bytes  # type: ignore[attr-defined]
        huge = {"milestone": "va", "rows": rows_for(req, raison_sociale="x" * limit)}
        response = api.push(req["galis_ref"], huge)
        assert response.status_code == 413 and response.json()["code"] == "payload_too_large"

    def test_unknown_request_is_not_found(self, api: Api) -> None:
        for ref in ("99999999", "abc"):
            response = api.push(ref, API_MD_EXAMPLE)
            assert response.status_code == 404 and response.json()["code"] == "funding_request_not_found"


class TestReadSubmissions:
    def test_a_version_reads_back_as_it_was_received(self, api: Api) -> None:
        req = api.create_request()
        pushed = api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)}).json()
        read = api.client.get(f"/v1/submissions/{pushed['id']}", headers=api.auth(api.admin))
        assert read.status_code == 200
        stored = read.json()
        assert (stored.pop("proofs"), stored.pop("proofs_missing")) == ([], [r["finess"] for r in rows_for(req)])
        assert stored.pop("reviews") == []
        assert stored == pushed

    def test_versions_are_listed_newest_first_with_pagination(self, api: Api) -> None:
        req = api.create_request(vsr_on="2024-06-01")
        for milestone in ("va", "va", "va", "fin_projet"):
            assert api.push(req["galis_ref"], {"milestone": milestone, "rows": rows_for(req)}).status_code == 201
        url = f"/v1/funding-requests/{req['galis_ref']}/submissions"
        page1 = api.client.get(url, params={"milestone": "va", "limit": 2}, headers=api.auth(api.admin)).json()
        assert [i["version"] for i in page1["items"]] == [3, 2]
        page2 = api.client.get(url, params={"milestone": "va", "limit": 2, "cursor": page1["next_cursor"]},
                               headers=api.auth(api.admin)).json()
        assert [i["version"] for i in page2["items"]] == [1] and page2["next_cursor"] is None
        everything = api.client.get(url, headers=api.auth(api.admin)).json()
        assert [(i["milestone"], i["version"]) for i in everything["items"]] == [
            ("fin_projet", 1), ("va", 3), ("va", 2), ("va", 1)]

    def test_unknown_submission_is_not_found(self, api: Api) -> None:
        response = api.client.get("/v1/submissions/does-not-exist", headers=api.auth(api.admin))
        assert response.status_code == 404 and response.json()["code"] == "submission_not_found"

    def test_bad_cursor_is_a_validation_problem(self, api: Api) -> None:
        req = api.create_request()
        response = api.client.get(f"/v1/funding-requests/{req['galis_ref']}/submissions",
                                  params={"cursor": "!!!"}, headers=api.auth(api.admin))
        assert response.status_code == 422 and response.json()["errors"][0]["code"] == "invalid_cursor"


def test_a_large_declaration_goes_through_the_bulk_insert_and_reads_back_identical(api: Api) -> None:
    from service.kit.db import COPY_MIN_ROWS

    size = COPY_MIN_ROWS + 50
    establishments = [{"finess": factories.finess("33"), "name": f"ESMS « n° {n} » œuvre", "category": "500"}
                      for n in range(size)]
    req = api.create_request(establishments=establishments)
    rows = [factories.row(finess=e["finess"], raison_sociale=e["name"], active_dui=50 + n % 50,
                          persons_accompanied=100, dui_with_personal_plan=40 + n % 10, dui_with_agenda_event=45,
                          period_start="2024-01-02", period_end="2024-04-01")
            for n, e in enumerate(establishments)]
    pushed = api.push(req["galis_ref"], {"milestone": "va", "rows": rows})
    assert pushed.status_code == 201, pushed.text
    assert api.count("submission_row") == size
    stored = api.client.get(f"/v1/submissions/{pushed.json()['id']}", headers=api.auth(api.admin)).json()
    assert stored["fingerprint"] == pushed.json()["fingerprint"]
    assert stored["rows"] == pushed.json()["rows"]
    assert [{k: r[k] for k in rows[0]} for r in stored["rows"]] == rows
