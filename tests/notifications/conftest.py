"""A real SMTP server on loopback (aiosmtpd) for the tests of mails, an app sending to it, and
helpers to read what it received."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import Iterator
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from fastapi.testclient import TestClient
from sqlmodel import Session

from service.audit import trail as audit
from service.kit.mailing import Mailing
from service.main import create_app
from service.notifications import sending
from service.organisations import people
from tests.conftest import Api, make_settings
from tests.pg_cluster import free_port


class Inbox:
    """aiosmtpd's handler: every message received, or a refusal for each."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], EmailMessage]] = []
        self.refuse: str | None = None
        self.unknown: set[str] = set()  # addresses the server refuses at RCPT
        self.delay = 0.0  # seconds taken over each message (a slow server)
        self.raw: list[bytes] = []  # each message as it came over the wire

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if address in self.unknown:
            return "550 5.1.1 Destinataire inconnu"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.refuse:
            return self.refuse
        self.raw.append(envelope.content)
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received.append((list(envelope.rcpt_tos), parsed))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


@pytest.fixture
def client(database_url: str, smtp: tuple[Inbox, int], tmp_path: Path) -> Iterator[TestClient]:
    settings = make_settings(database_url, storage_dir=tmp_path / "proofs", smtp_url=f"smtp://127.0.0.1:{smtp[1]}",
                             mail_from="ESMS numérique <ne-pas-repondre@esms.example>",
                             public_url="https://esms.example")
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def mailing(client: TestClient) -> Mailing:
    return Mailing.from_settings(client.app.state.settings)  # type: ignore[attr-defined]


def deliver(api: Api) -> None:
    """Send the mails due, as the active deliverer does each pass (its timed jobs — reminders,
    digests — are run by the tests at the instants they choose, not at the wall clock's)."""
    app = api.client.app
    sending.send_due(app.state.database, app.state.settings)  # type: ignore[attr-defined]


def mails_to(inbox: Inbox) -> dict[str, list[EmailMessage]]:
    received: dict[str, list[EmailMessage]] = {}
    for to, message in inbox.received:
        assert len(to) == 1  # one mail per address: nobody sees who else was told
        received.setdefault(to[0], []).append(message)
    return received


def text_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")  # lines as a reader sees them (CRLF on the wire)


def html_of(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("html",))
    assert part is not None
    return str(part.get_content())


def invite(api: Api, organisation_id: int, email: str, **names: str) -> int:
    def change(session: Session) -> int:
        person = people.invite(session, audit.OPERATOR, organisation_id, email=email, role="member")
        if names:
            session.execute(sa.text("UPDATE person SET given_name = :g, usual_name = :u WHERE id = :id"),
                            {"g": names.get("given", ""), "u": names.get("usual", ""), "id": person["id"]})
        return int(person["id"])
    return int(api.database.writer.run_sync(change))


def organisation(api: Api, find: Any) -> int:
    return int(api.database.writer.run_sync(lambda session: find(session).id))


def sql(api: Api, statement: str, **params: Any) -> Any:
    with api.database.engine.begin() as conn:
        return conn.execute(sa.text(statement), params)


def at(api: Api, job: Any, now: datetime, **kw: Any) -> int:
    return int(api.database.writer.run_sync(lambda session: job(session, now, **kw)))


def paris(*args: int) -> datetime:
    return datetime(*args, tzinfo=PARIS)  # type: ignore[misc]


PARIS = ZoneInfo("Europe/Paris")
