"""Decisions reach the people they concern: the ARS decision the porteur, a control concluded non
compliant the porteur and the ARS, a mandate the éditeur."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session

from service.audit import trail as audit
from service.organisations import directory
from tests import factories
from tests.conftest import Api, rows_for
from tests.notifications.conftest import Inbox, deliver, invite, mails_to, organisation, sql, text_of


@pytest.fixture
def pushed(api: Api) -> dict[str, Any]:
    req = api.create_request(porteur_name="Association Horizon", establishments=[
        {"finess": factories.finess("24"), "name": "EHPAD Les Tilleuls", "category": "500"}])
    porteur = organisation(api, lambda s: directory.porteur_of(s, req["siret"]))
    marie = invite(api, porteur, "marie@horizon.example")
    quiet = invite(api, porteur, "silence@horizon.example")
    sql(api, "INSERT INTO notification_preference (person_id, category, mode, updated_at) "
             "VALUES (:p, 'review', 'off', CURRENT_TIMESTAMP), (:p, 'control', 'off', CURRENT_TIMESTAMP)", p=quiet)
    invite(api, organisation(api, lambda s: directory.ars_of(s, "75")), "lea@ars.example")
    response = api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)})
    assert response.status_code == 201
    return {"request": req, "submission": response.json()["id"], "marie": marie}


def test_the_porteur_is_told_the_review_decision_with_its_comment(api: Api, smtp: tuple[Inbox, int],
                                                                  pushed: dict[str, Any]) -> None:
    inbox, _ = smtp
    ars = api.auth(api.key("ars_reviewer", region_code="75", label="Léa Martin (ARS)"))
    decided = api.client.post(f"/v1/submissions/{pushed['submission']}/reviews", headers=ars, json={
        "decision": "changes_requested", "comment": "Le nombre de DUI actifs du FINESS ne correspond pas au rapport."})
    assert decided.status_code == 201, decided.text
    deliver(api)
    told = mails_to(inbox)
    assert set(told) == {"marie@horizon.example"}  # not the person who turned reviews off, not the ARS
    [mail] = told["marie@horizon.example"]
    ref = pushed["request"]["galis_ref"]
    assert mail["Subject"] == f"[ESMS numérique] Demande GALIS {ref} : version 1 corrections demandées par l'ARS"
    text = text_of(mail)
    assert "Commentaire de Léa Martin (ARS) :\nLe nombre de DUI actifs du FINESS ne correspond pas au rapport." in text
    assert "Une nouvelle version peut être déclarée." in text


def test_a_non_compliant_control_tells_the_porteur_and_the_ars(api: Api, smtp: tuple[Inbox, int],
                                                               pushed: dict[str, Any]) -> None:
    inbox, _ = smtp
    cnsa = api.auth(api.key("cnsa_auditor", label="Auditrice CNSA"))
    case = sql(api, "SELECT id FROM control_case WHERE submission_id = :s", s=pushed["submission"]).scalar_one()
    concluded = api.client.post(f"/v1/control-cases/{case}/outcome", headers=cnsa, json={
        "outcome": "non_compliant", "comment": "La preuve montre 59 DUI actifs, 95 sont déclarés."})
    assert concluded.status_code == 200, concluded.text
    deliver(api)
    told = mails_to(inbox)
    assert set(told) == {"marie@horizon.example", "lea@ars.example"}
    assert "La preuve montre 59 DUI actifs, 95 sont déclarés." in text_of(told["lea@ars.example"][0])
    assert told["lea@ars.example"][0]["Subject"].endswith("contrôle de la CNSA conclu non conforme")


def test_a_compliant_control_tells_nobody(api: Api, smtp: tuple[Inbox, int], pushed: dict[str, Any]) -> None:
    inbox, _ = smtp
    case = sql(api, "SELECT id FROM control_case WHERE submission_id = :s", s=pushed["submission"]).scalar_one()
    assert api.client.post(f"/v1/control-cases/{case}/outcome", headers=api.auth(api.key("cnsa_auditor")),
                           json={"outcome": "compliant"}).status_code == 200
    deliver(api)
    assert inbox.received == []


def test_the_editeur_is_told_of_its_mandates(api: Api, smtp: tuple[Inbox, int], pushed: dict[str, Any]) -> None:
    inbox, _ = smtp

    def register(session: Session) -> int:
        return int(directory.register_editeur(session, audit.OPERATOR, name="Logiciel DUI SA", siret=factories.siret(),
                                              contact_email="support@logiciel.example")["id"])
    editeur = api.database.writer.run_sync(register)
    invite(api, editeur, "chef.projet@logiciel.example")
    ref = pushed["request"]["galis_ref"]
    admin = api.auth(api.admin)
    granted = api.client.post(f"/v1/funding-requests/{ref}/mandates", headers=admin,
                              json={"editeur_id": editeur, "ends_on": "2030-06-30"})
    assert granted.status_code == 201, granted.text
    deliver(api)
    told = mails_to(inbox)
    assert set(told) == {"chef.projet@logiciel.example", "support@logiciel.example"}
    mail = told["support@logiciel.example"][0]
    assert mail["Subject"] == f"[ESMS numérique] Mandat accordé pour la demande GALIS {ref}"
    assert "Association Horizon mandate Logiciel DUI SA" in text_of(mail)
    assert "jusqu'au dimanche 30 juin 2030" in text_of(mail)
    inbox.received.clear()
    assert api.client.delete(f"/v1/mandates/{granted.json()['id']}", headers=admin).status_code == 200
    deliver(api)
    told = mails_to(inbox)
    assert set(told) == {"chef.projet@logiciel.example", "support@logiciel.example"}
    assert "Association Horizon retire le mandat de Logiciel DUI SA" in text_of(told["support@logiciel.example"][0])
