"""The mail outbox against a real SMTP server on loopback (aiosmtpd): what is queued in a change
is received once sent, parsed by Python's ``email`` package; a server down keeps the mail
pending under the same Message-ID until it is back; a final refusal fails the mail at once; what
people typed never becomes a header."""

from __future__ import annotations

import email
import email.policy
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import Session

from service.domain.french_time import long_instant
from service.kit.db import Database
from service.main import deliverer_for
from service.models import MailMessage
from service.notifications import outbox, sending
from tests.conftest import make_settings
from tests.notifications.conftest import Inbox
from tests.pg_cluster import free_port

PROOF_CONTEXT = {"finess": "330000001", "establishment": "EHPAD Les Tilleuls", "galis_ref": "12345678",
                 "porteur": "Association Horizon", "milestone": "fin de projet",
                 "message": "Capture du DUI montrant les dossiers actifs au 30/09/2026.",
                 "requested": long_instant(datetime(2026, 12, 7, 13, 30, tzinfo=UTC), "Europe/Paris"),
                 "due": long_instant(datetime(2026, 12, 9, 13, 30, tzinfo=UTC), "Europe/Paris"),
                 "link": "https://esms.example/console/demandes/12345678"}


def proof_request_mail(session: Session, request_id: int | None, **overrides: Any) -> MailMessage | None:
    context = {**PROOF_CONTEXT, **overrides}
    return outbox.queue(session, category="proof_request.opened", template="proof_request.opened",
                        context=context, recipients=["Marie.Dupont@horizon.example", "contact@horizon.example",
                                                     "marie.dupont@horizon.example"], request_id=request_id)


@pytest.fixture
def database(database_url: str, tmp_path: Path) -> Iterator[Database]:
    db = Database(make_settings(database_url))
    try:
        yield db
    finally:
        db.close()


def queued(database: Database, **overrides: Any) -> MailMessage:
    def change(session: Session) -> MailMessage:
        mail = proof_request_mail(session, None, **overrides)
        assert mail is not None
        return mail
    mail = database.writer.run_sync(change)
    return mail


def settings_for(database_url: str, port: int, tmp_path: Path) -> Any:
    return make_settings(database_url, smtp_url=f"smtp://127.0.0.1:{port}", mail_dir=tmp_path / "mail",
                         mail_from="ESMS numérique <ne-pas-repondre@esms.example>")


def test_a_queued_mail_is_received_whole(database: Database, database_url: str, smtp: tuple[Inbox, int],
                                         tmp_path: Path) -> None:
    inbox, port = smtp
    mail = queued(database)
    assert sending.send_due(database, settings_for(database_url, port, tmp_path)) == 1
    [(to, message)] = inbox.received
    assert to == ["marie.dupont@horizon.example", "contact@horizon.example"]  # each once
    assert message["Message-ID"] == f"<{mail.id}@esms.example>"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["From"] == "ESMS numérique <ne-pas-repondre@esms.example>"
    assert message["Subject"] == ("[ESMS numérique] Preuve demandée pour le FINESS 330000001 — réponse avant le "
                                  "mercredi 9 décembre 2026 à 14 h 30")
    assert email.utils.parsedate_to_datetime(message["Date"]) == mail.created_at.replace(microsecond=0)
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    assert text is not None and html is not None
    assert "avant le mercredi 9 décembre 2026 à 14 h 30" in text.get_content()
    assert "Capture du DUI montrant les dossiers actifs au 30/09/2026." in text.get_content()
    assert "<strong>Délai : avant le mercredi 9 décembre 2026 à 14 h 30</strong>" in html.get_content()
    with Session(database.engine) as session:
        stored = session.get(MailMessage, mail.id)
        assert stored is not None and stored.status == "sent" and stored.attempts == 1 and stored.sent_at
    assert sending.send_due(database, settings_for(database_url, port, tmp_path)) == 0  # sent once


def test_a_server_down_keeps_the_mail_until_it_is_back_under_the_same_message_id(
        database: Database, database_url: str, tmp_path: Path) -> None:
    port = free_port()  # nobody listens there yet
    settings = settings_for(database_url, port, tmp_path)
    mail = queued(database)
    assert sending.send_due(database, settings) == 1
    with Session(database.engine) as session:
        waiting = session.get(MailMessage, mail.id)
        assert waiting is not None and waiting.status == "pending" and waiting.attempts == 1
        assert waiting.last_error and waiting.last_error.startswith("serveur SMTP injoignable")
        assert waiting.next_attempt_at is not None
        retry_at = waiting.next_attempt_at
    assert sending.send_due(database, settings, now=retry_at - timedelta(seconds=1)) == 0  # not before its time
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert sending.send_due(database, settings, now=retry_at) == 1
    finally:
        controller.stop()
    [(_, message)] = inbox.received
    assert message["Message-ID"] == f"<{mail.id}@esms.example>"
    with Session(database.engine) as session:
        sent = session.get(MailMessage, mail.id)
        assert sent is not None and sent.status == "sent" and sent.attempts == 2 and sent.last_error is None


def test_the_schedule_spent_or_a_final_refusal_fails_the_mail(database: Database, database_url: str,
                                                              smtp: tuple[Inbox, int], tmp_path: Path) -> None:
    inbox, port = smtp
    inbox.refuse = "550 5.7.1 Relais refusé"
    mail = queued(database)
    assert sending.send_due(database, settings_for(database_url, port, tmp_path)) == 1
    with Session(database.engine) as session:
        failed = session.get(MailMessage, mail.id)
        assert failed is not None and failed.status == "failed" and failed.attempts == 1
        assert failed.last_error and "550" in failed.last_error
    inbox.refuse = "451 4.3.0 Réessayez plus tard"
    again = queued(database)
    settings = make_settings(database_url, smtp_url=f"smtp://127.0.0.1:{port}", mail_retry_schedule="60,300")
    now = datetime.now(UTC)
    for attempt in range(3):
        assert sending.send_due(database, settings, now=now + timedelta(hours=attempt)) == 1
    with Session(database.engine) as session:
        spent = session.get(MailMessage, again.id)
        assert spent is not None and spent.status == "failed" and spent.attempts == 3
    assert inbox.received == []


def test_a_refused_recipient_fails_its_mail_and_the_next_goes_out(database: Database, database_url: str,
                                                                  smtp: tuple[Inbox, int], tmp_path: Path) -> None:
    inbox, port = smtp
    inbox.unknown = {"marie.dupont@horizon.example", "contact@horizon.example"}
    refused = queued(database)
    inbox_ok = "direction@autre.example"

    def other(session: Session) -> MailMessage:
        mail = outbox.queue(session, category="proof_request.opened", template="proof_request.opened",
                            context=dict(PROOF_CONTEXT), recipients=[inbox_ok])
        assert mail is not None
        return mail
    sent = database.writer.run_sync(other)
    assert sending.send_due(database, settings_for(database_url, port, tmp_path)) == 2
    with Session(database.engine) as session:
        first, second = session.get(MailMessage, refused.id), session.get(MailMessage, sent.id)
        assert first is not None and first.status == "failed" and "destinataires refusés" in (first.last_error or "")
        assert second is not None and second.status == "sent" and second.last_error is None
    assert [to for to, _ in inbox.received] == [[inbox_ok]]


def test_what_people_typed_stays_in_the_body(database: Database, database_url: str, smtp: tuple[Inbox, int],
                                             tmp_path: Path) -> None:
    inbox, port = smtp
    queued(database, establishment="EHPAD\r\nBcc: espion@example.org", finess="330000001\r\nX-Injecte: oui",
           message="<script>alert(1)</script>\r\nBcc: espion@example.org")
    assert sending.send_due(database, settings_for(database_url, port, tmp_path)) == 1
    [(to, message)] = inbox.received
    assert "espion@example.org" not in to and message["Bcc"] is None and message["X-Injecte"] is None
    assert "\n" not in message["Subject"] and "X-Injecte: oui" in message["Subject"]
    html = message.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "Bcc: espion@example.org" in message.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]


def test_without_a_server_each_mail_is_an_eml_file(database: Database, database_url: str, tmp_path: Path) -> None:
    mail = queued(database)
    settings = make_settings(database_url, mail_dir=tmp_path / "mail")
    assert sending.send_due(database, settings) == 1
    [written] = (tmp_path / "mail").glob("*.eml")
    assert written.name == f"{mail.id}.eml"
    parsed = email.message_from_bytes(written.read_bytes(), policy=email.policy.default)
    assert parsed["Message-ID"] == f"<{mail.id}@esms-numerique.invalid>"
    assert "avant le mercredi 9 décembre 2026" in parsed.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]


def test_nobody_to_tell_queues_nothing(database: Database) -> None:
    assert database.writer.run_sync(lambda session: outbox.queue(
        session, category="proof_request.opened", template="proof_request.opened", context={},
        recipients=["", "  "])) is None


def test_the_active_deliverer_sends_the_mails(database_url: str, smtp: tuple[Inbox, int], tmp_path: Path) -> None:
    inbox, port = smtp
    settings = settings_for(database_url, port, tmp_path)
    db = Database(settings)
    deliverer = deliverer_for(db, settings)
    try:
        mail = queued(db)
        deliverer.run_once()
        assert [message["Message-ID"] for _, message in inbox.received] == [f"<{mail.id}@esms.example>"]
        other = queued(db)
        deliverer.start()  # the loop: the next mail goes out without anyone asking
        deadline = datetime.now(UTC) + timedelta(seconds=20)
        while len(inbox.received) < 2 and datetime.now(UTC) < deadline:
            time.sleep(0.05)
        assert inbox.received[-1][1]["Message-ID"] == f"<{other.id}@esms.example>"
    finally:
        deliverer.stop()
        db.close()
