"""People are told: a CNSA proof request reaches the porteur's inbox (a real SMTP server on
loopback) with its deadline in Paris time, a reminder 12 hours before it, the porteur and the CNSA
person who asked when it is overdue; an ARS person gets one digest per working day listing the
versions awaiting review in its région only. The timed rules run at the instants the tests give
them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import Session
from time_machine import TimeMachineFixture

from service.control import use_cases as control
from service.domain.french_time import long_instant
from service.domain.review import ProofRequestCommand
from service.kit.mailing import Mailing
from service.notifications import events
from service.organisations import directory, people
from service.webhooks.deliverer import housekeeping
from tests import factories
from tests.conftest import Api, rows_for
from tests.notifications.conftest import (
    PARIS,
    Inbox,
    at,
    deliver,
    html_of,
    invite,
    mails_to,
    organisation,
    paris,
    sql,
    text_of,
)


@pytest.fixture
def declared(api: Api) -> dict[str, Any]:
    """A request of région 75 whose porteur has two active people, one deactivated and a
    contact address; a stored version of it, with its control case."""
    req = api.create_request(porteur_name="Association Horizon",
                             establishments=[{"finess": factories.finess("24"), "name": "EHPAD Les Tilleuls",
                                              "category": "500"}])
    porteur = organisation(api, lambda s: directory.porteur_of(s, req["siret"]))
    sql(api, "UPDATE organisation SET contact_email = 'Contact@Horizon.example' WHERE id = :id", id=porteur)
    invite(api, porteur, "marie.dupont@horizon.example", given="Marie", usual="Dupont")
    invite(api, porteur, "paul.martin@horizon.example")
    gone = invite(api, porteur, "ancien@horizon.example")
    sql(api, "UPDATE person SET active = false WHERE id = :id", id=gone)
    other = api.create_request(establishments=[{"finess": factories.finess("24"), "name": "EHPAD voisin",
                                                "category": "500"}])
    invite(api, organisation(api, lambda s: directory.porteur_of(s, other["siret"])), "voisin@ailleurs.example")
    pushed = api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)})
    assert pushed.status_code == 201, pushed.text
    submission = pushed.json()["id"]
    case = sql(api, "SELECT id FROM control_case WHERE submission_id = :s", s=submission).scalar_one()
    request_id = sql(api, "SELECT id FROM funding_request WHERE galis_ref = :r", r=req["galis_ref"]).scalar_one()
    return {"request": req, "submission": submission, "case": case, "request_id": request_id,
            "finess": req["establishments"][0]["finess"]}


PORTEUR_ADDRESSES = {"marie.dupont@horizon.example", "paul.martin@horizon.example", "contact@horizon.example"}


def test_a_proof_request_reaches_the_porteur_with_its_deadline(api: Api, smtp: tuple[Inbox, int],
                                                               declared: dict[str, Any]) -> None:
    inbox, _ = smtp
    cnsa = api.auth(api.key("cnsa_auditor", label="Auditrice CNSA"))
    message = "Rapport signé du nombre de DUI actifs.\r\nBcc: tous@example.org"  # typed text, CR/LF included
    asked = api.client.post(f"/v1/control-cases/{declared['case']}/proof-requests", headers=cnsa,
                            json={"finess": declared["finess"], "message": message})
    assert asked.status_code == 201, asked.text
    assert inbox.received == []  # queued with the change, sent by the deliverer
    deliver(api)
    received = mails_to(inbox)
    assert set(received) == PORTEUR_ADDRESSES  # active people and the contact address, nobody else
    mail = received["marie.dupont@horizon.example"][0]
    due = datetime.fromisoformat(asked.json()["due_at"])
    deadline = long_instant(due, "Europe/Paris")
    local = due.astimezone(PARIS)
    assert f"{local.hour} h {local.minute:02d}" in deadline and str(local.year) in deadline
    assert mail["Subject"] == (f"[ESMS numérique] Preuve demandée pour le FINESS {declared['finess']} — réponse "
                               f"avant le {deadline}")
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["References"] == f"<demande-{declared['request_id']}@esms.example>"
    assert mail["Bcc"] is None and mail["To"] == "marie.dupont@horizon.example"
    text = text_of(mail)
    assert f"Délai : avant le {deadline} (48 heures après la demande)." in text
    assert f"https://esms.example/console/versions/{declared['submission']}" in text
    assert "EHPAD Les Tilleuls" in text and declared["request"]["galis_ref"] in text
    assert "Bcc: tous@example.org" in text  # the typed line stays text
    assert f'href="https://esms.example/console/versions/{declared["submission"]}"' in html_of(mail)
    ids = {m["Message-ID"] for messages in received.values() for m in messages}
    assert len(ids) == 3  # one mail each

    # the thread of the request keeps a copy of what was sent
    thread = sql(api, "SELECT kind, subject, body FROM request_message WHERE request_id = :r",
                 r=declared["request_id"]).all()
    assert [(kind, subject) for kind, subject, _ in thread] == [("notification", mail["Subject"])]
    assert f"avant le {deadline}" in thread[0][2]


def request_by_person(api: Api, declared: dict[str, Any], mailing: Mailing) -> tuple[str, datetime, int]:
    """A proof request asked by a CNSA person (as the console does)."""
    cnsa = organisation(api, directory.cnsa)
    asker = invite(api, cnsa, "claire.auditrice@cnsa.example", given="Claire", usual="Auditrice")

    def ask(session: Session) -> tuple[str, datetime]:
        principal = people.person_principal(session.connection(), asker, date.today())
        assert principal is not None
        out = control.request_proof(session, principal, declared["case"], ProofRequestCommand(
            finess=declared["finess"], message="Capture de l'agenda."), mailing=mailing)
        return out.id, out.due_at

    pr, due = api.database.writer.run_sync(ask)
    return pr, due, asker


def test_a_reminder_twelve_hours_before_then_the_overdue_mail(api: Api, smtp: tuple[Inbox, int], mailing: Mailing,
                                                              declared: dict[str, Any]) -> None:
    inbox, _ = smtp
    _, due, _ = request_by_person(api, declared, mailing)
    deliver(api)
    inbox.received.clear()

    assert at(api, events.remind_proof_requests, due - timedelta(hours=12, minutes=1), mailing=mailing) == 0
    assert at(api, events.remind_proof_requests, due - timedelta(hours=11), mailing=mailing) == 1
    assert at(api, events.remind_proof_requests, due - timedelta(hours=10), mailing=mailing) == 0  # once
    deliver(api)
    reminded = mails_to(inbox)
    assert set(reminded) == PORTEUR_ADDRESSES
    reminder = reminded["paul.martin@horizon.example"][0]
    deadline = long_instant(due, "Europe/Paris")
    assert reminder["Subject"] == (f"[ESMS numérique] Rappel : preuve attendue pour le FINESS {declared['finess']} "
                                   f"avant le {deadline}")
    assert "Il reste moins de 12 heures." in text_of(reminder)
    inbox.received.clear()

    assert at(api, control.announce_overdue, due - timedelta(seconds=1), mailing=mailing) == 0
    assert at(api, control.announce_overdue, due + timedelta(minutes=1), mailing=mailing) == 1
    assert at(api, control.announce_overdue, due + timedelta(hours=1), mailing=mailing) == 0  # once
    deliver(api)
    overdue = mails_to(inbox)
    assert set(overdue) == PORTEUR_ADDRESSES | {"claire.auditrice@cnsa.example"}
    told = overdue["claire.auditrice@cnsa.example"][0]
    assert told["Subject"] == (f"[ESMS numérique] Preuve non déposée pour le FINESS {declared['finess']} : délai "
                               f"dépassé le {deadline}")
    assert "Capture de l'agenda." in text_of(told)
    subjects = [row[0] for row in sql(api, "SELECT subject FROM request_message WHERE request_id = :r "
                                           "ORDER BY created_at", r=declared["request_id"]).all()]
    assert [s.split(" ")[2] for s in subjects] == ["Preuve", "Rappel", "Preuve"]  # opened, reminder, overdue


def test_an_answered_request_is_not_reminded(api: Api, smtp: tuple[Inbox, int], mailing: Mailing,
                                             declared: dict[str, Any]) -> None:
    pr, due, _ = request_by_person(api, declared, mailing)
    sql(api, "UPDATE proof_request SET answered_at = :now WHERE id = :id", now=datetime.now(UTC), id=pr)
    assert at(api, events.remind_proof_requests, due - timedelta(hours=1), mailing=mailing) == 0
    assert at(api, control.announce_overdue, due + timedelta(hours=1), mailing=mailing) == 0


def test_an_ars_person_gets_one_digest_per_working_day_of_its_region(api: Api, smtp: tuple[Inbox, int],
                                                                     mailing: Mailing) -> None:
    inbox, _ = smtp
    inside = [api.create_request(porteur_name=f"Porteur {n}", establishments=[
        {"finess": factories.finess("24"), "name": f"EHPAD {n}", "category": "500"}]) for n in range(3)]
    outside = api.create_request(establishments=[{"finess": factories.finess("2A"), "name": "EHPAD corse",
                                                  "category": "500"}])
    for req in (*inside, outside):
        assert api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)}).status_code == 201
    ars = organisation(api, lambda s: directory.ars_of(s, "75"))
    invite(api, ars, "agent.ars@ars.example", given="Léa", usual="Martin")
    off = invite(api, ars, "autre.agent@ars.example")
    sql(api, "INSERT INTO notification_preference (person_id, category, mode, updated_at) "
             "VALUES (:p, 'review_queue', 'off', :now)", p=off, now=datetime.now(UTC))
    invite(api, organisation(api, lambda s: directory.ars_of(s, "94")), "agent@ars-corse.example")

    # Monday 7 December 2026: nothing before 9 h, then one digest each, once
    assert at(api, events.queue_digests, paris(2026, 12, 7, 8, 59), mailing=mailing) == 0
    assert at(api, events.queue_digests, paris(2026, 12, 7, 9, 0), mailing=mailing) == 2
    assert at(api, events.queue_digests, paris(2026, 12, 7, 17, 0), mailing=mailing) == 0
    deliver(api)
    received = mails_to(inbox)
    assert set(received) == {"agent.ars@ars.example", "agent@ars-corse.example"}  # not the one who turned it off
    [digest] = received["agent.ars@ars.example"]
    assert digest["Subject"] == ("[ESMS numérique] Récapitulatif du lundi 7 décembre 2026 : 3 versions en attente "
                                 "de revue")
    assert digest["List-Unsubscribe"] is None or digest["List-Unsubscribe"].startswith("<https://esms.example/")
    text = text_of(digest)
    assert text.startswith("Bonjour Léa Martin,")
    for req in inside:
        assert f"GALIS {req['galis_ref']} ({req['porteur_name']})" in text
    assert outside["galis_ref"] not in text
    assert outside["galis_ref"] in text_of(received["agent@ars-corse.example"][0])
    inbox.received.clear()

    # a Saturday, Christmas (a Friday): none; the Monday after: again
    assert at(api, events.queue_digests, paris(2026, 12, 12, 10, 0), mailing=mailing) == 0
    assert at(api, events.queue_digests, paris(2026, 12, 25, 10, 0), mailing=mailing) == 0
    assert at(api, events.queue_digests, paris(2026, 12, 28, 9, 30), mailing=mailing) == 2


def test_nothing_awaiting_no_digest(api: Api, smtp: tuple[Inbox, int], mailing: Mailing) -> None:
    invite(api, organisation(api, lambda s: directory.ars_of(s, "75")), "agent.ars@ars.example")
    assert at(api, events.queue_digests, paris(2026, 12, 8, 9, 0), mailing=mailing) == 0
    # the day is settled for that person: news arriving later waits for the next working day
    assert sql(api, "SELECT count(*) FROM mail_digest WHERE mail_id IS NULL").scalar_one() == 1


def test_the_active_deliverer_runs_the_timed_mails(api: Api, smtp: tuple[Inbox, int], mailing: Mailing,
                                                   declared: dict[str, Any], time_machine: TimeMachineFixture) -> None:
    """The deliverer's passes queue the reminders and the digests at the wall clock's instant, and
    send them."""
    inbox, _ = smtp
    invite(api, organisation(api, lambda s: directory.ars_of(s, "75")), "agent.ars@ars.example")
    pr, _, _ = request_by_person(api, declared, mailing)
    deliver(api)
    inbox.received.clear()
    sql(api, "UPDATE proof_request SET due_at = :due WHERE id = :id", due=paris(2026, 12, 8, 15, 0), id=pr)
    time_machine.move_to(paris(2026, 12, 8, 9, 30), tick=False)  # a Tuesday morning, 5 h 30 before the deadline
    api.client.app.state.deliverer.run_once()  # type: ignore[attr-defined]
    subjects = {to: [m["Subject"].split(" ")[2] for m in mails] for to, mails in mails_to(inbox).items()}
    assert subjects["marie.dupont@horizon.example"] == ["Rappel"]
    assert subjects["agent.ars@ars.example"] == ["Récapitulatif"]


def test_ars_people_who_want_it_at_once_are_told_of_each_new_version(api: Api, smtp: tuple[Inbox, int],
                                                                     mailing: Mailing) -> None:
    inbox, _ = smtp
    ars = organisation(api, lambda s: directory.ars_of(s, "75"))
    sql(api, "UPDATE organisation SET contact_email = 'ars@ars.example' WHERE id = :id", id=ars)
    lea = invite(api, ars, "lea@ars.example")
    invite(api, ars, "paul@ars.example")  # the default: the daily digest
    sql(api, "INSERT INTO notification_preference (person_id, category, mode, updated_at) "
             "VALUES (:p, 'review_queue', 'instant', :now)", p=lea, now=datetime.now(UTC))
    inside = [api.create_request(establishments=[{"finess": factories.finess("24"), "name": f"EHPAD {n}",
                                                  "category": "500"}]) for n in range(2)]
    outside = api.create_request(establishments=[{"finess": factories.finess("2A"), "name": "EHPAD corse",
                                                  "category": "500"}])
    for req in (*inside, outside):
        assert api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)}).status_code == 201
    now = datetime.now(UTC)
    assert at(api, events.tell_versions_awaiting, now, mailing=mailing) == 3
    assert at(api, events.tell_versions_awaiting, now, mailing=mailing) == 0  # each version once
    deliver(api)
    told = mails_to(inbox)
    assert set(told) == {"lea@ars.example"}  # not the digest reader, not the contact address
    [mail] = told["lea@ars.example"]
    assert mail["Subject"] == "[ESMS numérique] 2 nouvelles versions à examiner dans votre région"
    assert all(f"GALIS {req['galis_ref']}" in text_of(mail) for req in inside)
    assert outside["galis_ref"] not in text_of(mail)
    inbox.received.clear()
    # a new version of a request: told in its turn
    assert api.push(inside[0]["galis_ref"], {"milestone": "va", "rows": rows_for(inside[0])}).status_code == 201
    assert at(api, events.tell_versions_awaiting, now, mailing=mailing) == 1
    deliver(api)
    assert mails_to(inbox)["lea@ars.example"][0]["Subject"] == ("[ESMS numérique] 1 nouvelle version à examiner "
                                                                "dans votre région")


def test_a_failing_timed_job_holds_back_neither_the_others_nor_housekeeping(
        api: Api, smtp: tuple[Inbox, int], mailing: Mailing, declared: dict[str, Any],
        caplog: pytest.LogCaptureFixture) -> None:
    _, due, _ = request_by_person(api, declared, mailing)

    def broken(session: Session, now: datetime) -> int:
        session.execute(sa.text("UPDATE proof_request SET message = 'abîmé'"))  # rolled back with its savepoint
        raise RuntimeError("un défaut")

    def remind(session: Session, now: datetime) -> int:
        return events.remind_proof_requests(session, due - timedelta(hours=1), mailing=mailing)

    with caplog.at_level("ERROR"):
        queued = api.database.writer.run_sync(lambda session: housekeeping(
            session, zone="Europe/Paris", timed_events=[broken, remind]))
    assert queued == 1 and "timed job" in caplog.text
    assert sql(api, "SELECT message FROM proof_request").scalar_one() == "Capture de l'agenda."
    assert sql(api, "SELECT count(*) FROM proof_request WHERE reminded_at IS NOT NULL").scalar_one() == 1
