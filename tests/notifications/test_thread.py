"""The message thread of a request: who writes, who is told by mail, what is refused (and then
nothing is stored); each person's preferences, and the mails listed for an administrator."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlmodel import Session

from service.domain.errors import ValidationFailed
from service.kit.mailing import Mailing
from service.notifications import events, preferences, thread
from service.notifications.schemas import PreferenceChange
from service.organisations import directory, people
from tests import factories
from tests.conftest import Api
from tests.notifications.conftest import Inbox, at, deliver, invite, mails_to, organisation, paris, sql, text_of


@pytest.fixture
def world(api: Api) -> dict[str, Any]:
    req = api.create_request(porteur_name="Association Horizon", establishments=[
        {"finess": factories.finess("24"), "name": "EHPAD Les Tilleuls", "category": "500"}])
    porteur = organisation(api, lambda s: directory.porteur_of(s, req["siret"]))
    ars = organisation(api, lambda s: directory.ars_of(s, "75"))
    cnsa = organisation(api, directory.cnsa)
    return {
        "request": req, "ref": req["galis_ref"],
        "porteur_key": api.auth(api.key("porteur", siret=req["siret"], label="Clé du porteur")),
        "ars_key": api.auth(api.key("ars_reviewer", region_code="75", label="Clé de l'ARS")),
        "marie": invite(api, porteur, "marie@horizon.example", given="Marie", usual="Dupont"),
        "lea": invite(api, ars, "lea@ars.example", given="Léa", usual="Martin"),
        "claire": invite(api, cnsa, "claire@cnsa.example", given="Claire", usual="Auditrice"),
        "other_ars": invite(api, organisation(api, lambda s: directory.ars_of(s, "94")), "agent@ars-corse.example"),
    }


def as_person(api: Api, person_id: int, job: Any) -> Any:
    def run(session: Session) -> Any:
        principal = people.person_principal(session.connection(), person_id, date.today())
        assert principal is not None
        return job(session, principal)
    return api.database.writer.run_sync(run)


def test_messages_go_to_the_other_side_and_stay_in_the_thread(api: Api, smtp: tuple[Inbox, int],
                                                              mailing: Mailing, world: dict[str, Any]) -> None:
    inbox, _ = smtp
    ref = world["ref"]
    posted = api.client.post(f"/v1/funding-requests/{ref}/messages", headers=world["porteur_key"],
                             json={"body": "  Bonjour,\r\nla preuve arrive demain.\r\nSubject: piège\n"})
    assert posted.status_code == 201, posted.text
    assert posted.json()["body"] == "Bonjour,\nla preuve arrive demain.\nSubject: piège"
    assert posted.json()["author"]["label"] == "Clé du porteur" and posted.json()["kind"] == "message"
    deliver(api)
    told = mails_to(inbox)
    assert set(told) == {"lea@ars.example"}  # the ARS of the région only: not Corse's, not the porteur itself
    [mail] = told["lea@ars.example"]
    assert mail["Subject"] == f"[ESMS numérique] Nouveau message sur la demande GALIS {ref}"
    assert "Bonjour,\nla preuve arrive demain.\nSubject: piège" in text_of(mail)
    assert f"https://esms.example/console/demandes/{ref}/messages" in text_of(mail)
    inbox.received.clear()

    # the CNSA person writes: the porteur and the ARS are told
    as_person(api, world["claire"], lambda s, p: thread.post(s, p, ref, "Merci de joindre le rapport signé.",
                                                             mailing=mailing))
    deliver(api)
    assert set(mails_to(inbox)) == {"marie@horizon.example", "lea@ars.example"}
    inbox.received.clear()

    # the ARS answers: the porteur, and the CNSA person who wrote in the thread
    answered = api.client.post(f"/v1/funding-requests/{ref}/messages", headers=world["ars_key"],
                               json={"body": "Bien reçu."})
    assert answered.status_code == 201
    deliver(api)
    assert set(mails_to(inbox)) == {"marie@horizon.example", "claire@cnsa.example"}

    listed = api.client.get(f"/v1/funding-requests/{ref}/messages", headers=world["porteur_key"],
                            params={"limit": 2})
    assert listed.status_code == 200
    first = listed.json()
    assert [m["body"] for m in first["items"]] == ["Bonjour,\nla preuve arrive demain.\nSubject: piège",
                                                   "Merci de joindre le rapport signé."]
    assert first["items"][1]["author"]["label"] == "Claire Auditrice (CNSA)"
    rest = api.client.get(f"/v1/funding-requests/{ref}/messages", headers=world["porteur_key"],
                          params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [m["body"] for m in rest["items"]] == ["Bien reçu."] and rest["next_cursor"] is None
    # the mails telling of messages are not copied again into the thread
    assert sql(api, "SELECT count(*) FROM request_message WHERE kind = 'notification'").scalar_one() == 0
    assert sql(api, "SELECT count(*) FROM audit_event WHERE action = 'message_posted'").scalar_one() == 3


@pytest.mark.parametrize(("body", "code"), [
    ("x" * 5001, "text_too_long"),
    ("Bonjour\x07", "text_invalid_characters"),
    ("Bonjour\x1b[31m", "text_invalid_characters"),
    (" \r\n\t ", "message_empty"),
])
def test_a_refused_message_changes_nothing(api: Api, world: dict[str, Any], body: str, code: str) -> None:
    before = {table: api.count(table) for table in ("request_message", "mail_message", "audit_event")}
    refused = api.client.post(f"/v1/funding-requests/{world['ref']}/messages", headers=world["porteur_key"],
                              json={"body": body})
    assert refused.status_code == 422, refused.text
    found = refused.json()
    assert [(error["code"], error["field"]) for error in found["errors"]] == [(code, "body")]
    assert {table: api.count(table) for table in before} == before
    # the same body given to the use case is refused with its own code and field
    with pytest.raises(ValidationFailed) as caught:
        as_person(api, world["marie"], lambda s, p: thread.post(s, p, world["ref"], body,
                                                                mailing=Mailing("https://x", "Europe/Paris", 9)))
    assert [(i.code, i.field) for i in caught.value.issues] == [(code, "body")]


def test_a_message_of_5000_characters_is_kept_whole(api: Api, world: dict[str, Any]) -> None:
    body = "Ligne\t1\n" + "é" * 4992
    assert len(body) == 5000
    posted = api.client.post(f"/v1/funding-requests/{world['ref']}/messages", headers=world["porteur_key"],
                             json={"body": body})
    assert posted.status_code == 201 and posted.json()["body"] == body


def test_outside_its_scope_the_thread_is_not_found(api: Api, world: dict[str, Any]) -> None:
    other = api.auth(api.key("porteur", siret=factories.siret()))
    for response in (api.client.get(f"/v1/funding-requests/{world['ref']}/messages", headers=other),
                     api.client.post(f"/v1/funding-requests/{world['ref']}/messages", headers=other,
                                     json={"body": "Bonjour"})):
        assert response.status_code == 404
    assert api.count("request_message") == 0


def test_preferences_mandatory_categories_and_the_daily_digest(api: Api, smtp: tuple[Inbox, int],
                                                               mailing: Mailing, world: dict[str, Any]) -> None:
    inbox, _ = smtp
    marie = world["marie"]
    listed = as_person(api, marie, lambda s, p: preferences.preferences(s, p))
    assert {(p.category, p.mode, p.mandatory) for p in listed} == {
        ("proof_request", "instant", True), ("review", "instant", False), ("fin_projet", "instant", True),
        ("control", "instant", False), ("message", "instant", False)}

    with pytest.raises(ValidationFailed) as refused:
        as_person(api, marie, lambda s, p: preferences.change(s, p, [
            PreferenceChange(category="message", mode="daily"), PreferenceChange(category="proof_request",
                                                                                 mode="off")]))
    assert [(i.code, i.field) for i in refused.value.issues] == [("notification_mandatory", "items[1]")]
    assert api.count("notification_preference") == 0  # all or nothing

    changed = as_person(api, marie, lambda s, p: preferences.change(s, p, [
        PreferenceChange(category="message", mode="daily")]))
    assert {p.category: p.mode for p in changed}["message"] == "daily"

    # Marie reads messages in her digest: nothing now, a line in the next working day's digest
    api.client.post(f"/v1/funding-requests/{world['ref']}/messages", headers=world["ars_key"],
                    json={"body": "Pouvez-vous préciser la période ?"})
    deliver(api)
    assert "marie@horizon.example" not in mails_to(inbox)
    assert at(api, events.queue_digests, paris(2026, 12, 8, 9, 0), mailing=mailing) == 1  # Marie's (Léa: nothing)
    deliver(api)
    [digest] = mails_to(inbox)["marie@horizon.example"]
    assert f"Nouveau message sur la demande GALIS {world['ref']}" in text_of(digest)
    assert at(api, events.queue_digests, paris(2026, 12, 9, 9, 0), mailing=mailing) == 0  # carried once

    # off: nothing at all
    as_person(api, marie, lambda s, p: preferences.change(s, p, [PreferenceChange(category="message", mode="off")]))
    api.client.post(f"/v1/funding-requests/{world['ref']}/messages", headers=world["ars_key"], json={"body": "?"})
    assert sql(api, "SELECT count(*) FROM held_notification WHERE digest_id IS NULL").scalar_one() == 0


def test_a_key_has_no_preferences(api: Api, world: dict[str, Any]) -> None:
    for response in (api.client.get("/v1/me/notifications", headers=world["porteur_key"]),
                     api.client.put("/v1/me/notifications", headers=world["porteur_key"],
                                    json={"items": [{"category": "review", "mode": "off"}]})):
        assert response.status_code == 403 and response.json()["code"] == "person_only"


def test_the_mails_listed_for_an_administrator(api: Api, smtp: tuple[Inbox, int], world: dict[str, Any]) -> None:
    inbox, _ = smtp
    for n in range(3):
        api.client.post(f"/v1/funding-requests/{world['ref']}/messages", headers=world["porteur_key"],
                        json={"body": f"Message {n}"})
    admin = api.auth(api.admin)
    pending = api.client.get("/v1/mail", params={"status": "pending"}, headers=admin).json()["items"]
    assert len(pending) == 3 and {m["recipients"][0] for m in pending} == {"lea@ars.example"}
    deliver(api)
    page = api.client.get("/v1/mail", params={"galis_ref": world["ref"], "limit": 2}, headers=admin).json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    assert all(m["status"] == "sent" and m["galis_ref"] == world["ref"] and m["sent_at"] for m in page["items"])
    rest = api.client.get("/v1/mail", params={"galis_ref": world["ref"], "limit": 2, "cursor": page["next_cursor"]},
                          headers=admin).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert api.client.get("/v1/mail", params={"status": "pending"}, headers=admin).json()["items"] == []
    assert api.client.get("/v1/mail", params={"galis_ref": factories.galis_ref()},
                          headers=admin).json()["items"] == []
    assert len(inbox.received) == 3
