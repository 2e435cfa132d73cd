"""RFC 8058 one-click unsubscribe: digests and optional categories carry a signed link in their
headers (never in their bodies, which the thread copies); the mail reader's POST turns the
category off without any session; a forged link changes nothing; mandatory mails offer none."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from service.kit.mailing import Mailing
from service.notifications import events
from service.organisations import directory
from tests import factories
from tests.conftest import Api, rows_for
from tests.notifications.conftest import Inbox, at, deliver, invite, mails_to, organisation, paris, sql, text_of


@pytest.fixture
def waiting(api: Api) -> dict[str, Any]:
    req = api.create_request(establishments=[{"finess": factories.finess("24"), "name": "EHPAD", "category": "500"}])
    assert api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)}).status_code == 201
    lea = invite(api, organisation(api, lambda s: directory.ars_of(s, "75")), "lea@ars.example")
    porteur = organisation(api, lambda s: directory.porteur_of(s, req["siret"]))
    marie = invite(api, porteur, "marie@horizon.example")
    return {"request": req, "lea": lea, "marie": marie}


def path_of(header: str) -> str:
    assert header.startswith("<https://esms.example/console/desabonnement?") and header.endswith(">")
    url = urlsplit(header[1:-1])
    return f"{url.path}?{url.query}"


def test_the_digest_link_turns_the_digest_off_in_one_click(api: Api, smtp: tuple[Inbox, int], mailing: Mailing,
                                                          waiting: dict[str, Any]) -> None:
    inbox, _ = smtp
    assert at(api, events.queue_digests, paris(2026, 12, 8, 9, 0), mailing=mailing) == 1
    deliver(api)
    [digest] = mails_to(inbox)["lea@ars.example"]
    assert digest["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    target = path_of(digest["List-Unsubscribe"])
    # on the wire as itself (RFC 2369): not folded into an encoded word a mail reader cannot follow
    [raw] = [r for r in inbox.raw if b"List-Unsubscribe:" in r]
    assert f"\r\nList-Unsubscribe: {digest['List-Unsubscribe']}\r\n".encode() in raw
    assert "desabonnement" not in text_of(digest)  # the body links to the preferences, not to the signed link
    query = parse_qs(urlsplit(target).query)
    assert query["p"] == [str(waiting["lea"])] and query["c"] == ["digest"]

    # a mail reader's GET changes nothing; it shows the button
    shown = api.client.get(target)
    assert shown.status_code == 200 and "Ne plus les recevoir" in shown.text and "lea@ars.example" in shown.text
    assert api.count("notification_preference") == 0

    # forged: another person, another category, a changed signature
    for forged in (target.replace(f"p={waiting['lea']}", f"p={waiting['marie']}"),
                   target.replace("c=digest", "c=message"), target[:-3] + "abc", "/console/desabonnement?p=1",
                   "/console/desabonnement?p=²&c=digest&t=x"):
        refused = api.client.post(forged, data={"List-Unsubscribe": "One-Click"})
        assert refused.status_code == 404 and "unsubscribe_link_invalid" in refused.text
    assert api.count("notification_preference") == 0

    # the one-click POST (RFC 8058): no cookie, no token of a form
    done = api.client.post(target, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200, done.text
    assert "Versions en attente de revue dans votre région" in done.text
    assert sql(api, "SELECT category, mode FROM notification_preference WHERE person_id = :p",
               p=waiting["lea"]).all() == [("review_queue", "off")]
    assert at(api, events.queue_digests, paris(2026, 12, 9, 9, 0), mailing=mailing) == 0
    assert api.client.post(target, data={"List-Unsubscribe": "One-Click"}).status_code == 200  # again: harmless


def test_optional_categories_offer_it_mandatory_ones_do_not(api: Api, smtp: tuple[Inbox, int],
                                                            waiting: dict[str, Any]) -> None:
    inbox, _ = smtp
    ref = waiting["request"]["galis_ref"]
    ars = api.auth(api.key("ars_reviewer", region_code="75"))
    assert api.client.post(f"/v1/funding-requests/{ref}/messages", headers=ars,
                           json={"body": "Bonjour"}).status_code == 201
    api.event(ref, "vsr_validated", "2026-10-15")  # the fin de projet: mandatory
    sql(api, "UPDATE organisation SET contact_email = 'contact@horizon.example' WHERE kind = 'porteur' "
             "AND siret = :s", s=waiting["request"]["siret"])
    assert api.client.post(f"/v1/funding-requests/{ref}/messages", headers=ars,
                           json={"body": "Encore"}).status_code == 201
    deliver(api)
    told = mails_to(inbox)
    by_subject = {m["Subject"].split(" ")[2]: m for m in told["marie@horizon.example"]}
    message, fin_projet = by_subject["Nouveau"], by_subject["Demande"]
    assert fin_projet["List-Unsubscribe"] is None
    target = path_of(message["List-Unsubscribe"])
    assert all(m["List-Unsubscribe"] is None for m in told["contact@horizon.example"])  # not a person
    # as multipart/form-data, which RFC 8058 asks mail readers to send
    assert api.client.post(target, files={"List-Unsubscribe": (None, "One-Click")}).status_code == 200
    assert sql(api, "SELECT mode FROM notification_preference WHERE person_id = :p AND category = 'message'",
               p=waiting["marie"]).scalar_one() == "off"
    # and no thread copy carries a link: the thread holds the mail's body only
    bodies = sql(api, "SELECT body FROM request_message").scalars().all()
    assert bodies and not any("desabonnement" in body for body in bodies)
