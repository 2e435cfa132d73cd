"""The fin de projet's clock told: its opening with the due date, reminders at D-30, D-7 and D-1
while no version of it exists, the porteur and the ARS once it is overdue; an extension starts
the reminders again; a declaration stops them."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from service.kit.mailing import Mailing
from service.notifications import events
from service.organisations import directory
from tests import factories
from tests.conftest import Api, rows_for
from tests.notifications.conftest import Inbox, at, deliver, invite, mails_to, organisation, paris, sql, text_of


@pytest.fixture
def opened(api: Api, smtp: tuple[Inbox, int]) -> dict[str, Any]:
    req = api.create_request(porteur_name="Association Horizon", establishments=[
        {"finess": factories.finess("24"), "name": "EHPAD Les Tilleuls", "category": "500"}])
    invite(api, organisation(api, lambda s: directory.porteur_of(s, req["siret"])), "marie@horizon.example")
    invite(api, organisation(api, lambda s: directory.ars_of(s, "75")), "lea@ars.example")
    api.event(req["galis_ref"], "vsr_validated", "2026-10-15")  # due 15 January 2027
    return req


def remind(api: Api, mailing: Mailing, *day: int) -> int:
    return at(api, events.remind_fin_projet, paris(*day, 10, 0), mailing=mailing)


def test_opening_reminders_and_overdue(api: Api, smtp: tuple[Inbox, int], mailing: Mailing,
                                       opened: dict[str, Any]) -> None:
    inbox, _ = smtp
    ref = opened["galis_ref"]
    deliver(api)
    [mail] = mails_to(inbox)["marie@horizon.example"]
    assert mail["Subject"] == (f"[ESMS numérique] Demande GALIS {ref} : fin de projet à déclarer avant le vendredi "
                               "15 janvier 2027")
    assert "le jeudi 15 octobre 2026" in text_of(mail)
    inbox.received.clear()

    assert remind(api, mailing, 2026, 12, 15) == 0  # D-31
    assert remind(api, mailing, 2026, 12, 16) == 1  # D-30
    assert remind(api, mailing, 2026, 12, 16) == 0
    assert remind(api, mailing, 2027, 1, 7) == 0  # D-8
    assert remind(api, mailing, 2027, 1, 8) == 1  # D-7
    assert remind(api, mailing, 2027, 1, 14) == 1  # D-1
    assert remind(api, mailing, 2027, 1, 15) == 0  # the day itself: already reminded
    deliver(api)
    subjects = [m["Subject"] for m in mails_to(inbox)["marie@horizon.example"]]
    assert [s.rsplit(" attendue ", 1)[1] for s in subjects] == ["dans 30 jours", "dans 7 jours", "demain"]
    assert set(mails_to(inbox)) == {"marie@horizon.example"}  # reminders are the porteur's
    inbox.received.clear()

    assert remind(api, mailing, 2027, 1, 16) == 1  # overdue
    assert remind(api, mailing, 2027, 1, 17) == 0
    deliver(api)
    told = mails_to(inbox)
    assert set(told) == {"marie@horizon.example", "lea@ars.example"}
    assert "délai échu le vendredi 15 janvier 2027" in told["lea@ars.example"][0]["Subject"]
    inbox.received.clear()

    # an extension: told, and the reminders and the overdue start again from the new date
    api.event(ref, "deadline_extended", "2026-12-07", until="2027-03-31")
    deliver(api)
    assert "reportée au mercredi 31 mars 2027" in mails_to(inbox)["marie@horizon.example"][0]["Subject"]
    assert remind(api, mailing, 2027, 3, 1) == 1  # D-30 of the new date
    assert remind(api, mailing, 2027, 4, 1) == 1  # overdue again


def test_a_declaration_stops_the_reminders(api: Api, smtp: tuple[Inbox, int], mailing: Mailing,
                                           opened: dict[str, Any]) -> None:
    pushed = api.push(opened["galis_ref"], {"milestone": "fin_projet", "rows": rows_for(opened)})
    assert pushed.status_code == 201, pushed.text
    assert remind(api, mailing, 2026, 12, 16) == 0
    assert remind(api, mailing, 2027, 1, 16) == 0
    assert sql(api, "SELECT fin_projet_reminders_sent FROM funding_request WHERE galis_ref = :r",
               r=opened["galis_ref"]).scalar_one() == ""


def test_reminders_already_sent_do_not_hold_the_others_back(api: Api, smtp: tuple[Inbox, int],
                                                            mailing: Mailing) -> None:
    for _ in range(4):
        req = api.create_request(establishments=[{"finess": factories.finess("24"), "name": "EHPAD",
                                                  "category": "500"}])
        api.event(req["galis_ref"], "vsr_validated", "2026-10-15")
    # two at a time: the requests reminded leave the job's sight until their next reminder is due
    assert at(api, events.remind_fin_projet, paris(2026, 12, 16, 10, 0), mailing=mailing, limit=2) == 2
    assert at(api, events.remind_fin_projet, paris(2026, 12, 16, 10, 0), mailing=mailing, limit=2) == 2
    assert at(api, events.remind_fin_projet, paris(2026, 12, 16, 10, 0), mailing=mailing, limit=2) == 0
    assert sql(api, "SELECT DISTINCT fin_projet_next_reminder_on FROM funding_request").scalars().all() in (
        [date(2027, 1, 8)], ["2027-01-08"])  # D-7 next
