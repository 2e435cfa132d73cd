"""Sending the outbox's mails (``service.notifications.outbox``).

By SMTP when ``SERVICE_SMTP_URL`` is set (``smtp://``, ``smtp+starttls://`` or ``smtps://``,
credentials in the URL), else as ``.eml`` files in ``SERVICE_MAIL_DIR`` (development: open them
with any mail reader). Each mail carries a text and an HTML part, ``Date`` (its queueing),
``Message-ID`` (made of its id: the same at every attempt), ``References`` naming its funding
request's thread, and ``Auto-Submitted: auto-generated``. A mail the server does not take is
tried again after each delay of ``SERVICE_MAIL_RETRY_SCHEDULE``, then ``failed``; a refusal the
server says is final (5xx) fails at once.
"""

from __future__ import annotations

import email.policy
import email.utils
import logging
import os
import smtplib
import ssl
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from sqlmodel import Session, col, select

from service.kit.db import Database
from service.kit.mailing import Mailing
from service.kit.settings import Settings
from service.models import MailMessage, utcnow
from service.notifications import unsubscribe

log = logging.getLogger(__name__)

#: Mails sent between two records of their outcome: a deliverer killed mid-batch sends at most
#: these again (same Message-ID), and a record costs one write transaction.
RECORD_EVERY = 10
#: Longest a deliverer's pass keeps sending batches of mails (then the next pass goes on).
DRAIN_SECONDS = 5.0


class _Policy(email.policy.EmailPolicy):
    """``email.policy.SMTP``, except that the ``List-Unsubscribe`` link is written as itself: a
    URL longer than a line would otherwise be folded into an encoded word (RFC 2047), which no
    mail reader follows (RFC 2369 and 8058 want ``<https://…>``; RFC 5322 allows 998 characters)."""

    def fold(self, name: str, value: str) -> str:
        if name.lower() == "list-unsubscribe":
            return f"{name}: {value}{self.linesep}"
        return super().fold(name, value)

    def fold_binary(self, name: str, value: str) -> bytes:
        if name.lower() == "list-unsubscribe":
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


_POLICY = _Policy(linesep="\r\n")


def domain_of(sender: str) -> str:
    """The domain of the From: address (``ne-pas-repondre@esms.example`` → ``esms.example``)."""
    return email.utils.parseaddr(sender)[1].rpartition("@")[2] or "localhost"


def compose(mail: MailMessage, *, sender: str, unsubscribe: str | None = None) -> EmailMessage:
    """The mail as sent: headers and both parts (header values are single lines: what people
    typed only ever reaches the body, as text); with ``unsubscribe``, its one-click link (RFC
    8058)."""
    domain = domain_of(sender)
    message = EmailMessage(policy=email.policy.SMTP)
    message["From"] = sender
    message["To"] = ", ".join(mail.recipients)
    message["Subject"] = mail.subject
    message["Date"] = email.utils.format_datetime(mail.created_at)
    message["Message-ID"] = f"<{mail.id}@{domain}>"
    if mail.request_id:
        thread = f"<demande-{mail.request_id}@{domain}>"
        message["References"] = thread
        message["In-Reply-To"] = thread
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "All"
    if unsubscribe:
        message["List-Unsubscribe"] = f"<{unsubscribe}>"
        message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message.set_content(mail.text_body)
    message.add_alternative(mail.html_body, subtype="html")
    message.policy = _POLICY
    return message


class Connection(Protocol):
    def send(self, message: EmailMessage, recipients: list[str]) -> None: ...


@dataclass(frozen=True)
class SmtpTransport:
    """An SMTP server: plain, STARTTLS (certificate checked) or TLS from the first byte."""

    scheme: str
    host: str
    port: int
    user: str | None
    password: str | None
    timeout: float

    @classmethod
    def from_url(cls, url: str, timeout: float) -> SmtpTransport:
        parts = urlsplit(url)
        default = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}[parts.scheme]
        return cls(parts.scheme, parts.hostname or "localhost", parts.port or default,
                   unquote(parts.username) if parts.username else None,
                   unquote(parts.password) if parts.password else None, timeout)

    @contextmanager
    def open(self) -> Iterator[Connection]:
        context = ssl.create_default_context()
        smtp = (smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
                if self.scheme == "smtps" else smtplib.SMTP(self.host, self.port, timeout=self.timeout))
        try:
            if self.scheme == "smtp+starttls":
                smtp.starttls(context=context)
            if self.user:
                smtp.login(self.user, self.password or "")
            yield _SmtpConnection(smtp)
        finally:
            try:
                smtp.quit()
            except (smtplib.SMTPException, OSError):
                smtp.close()


@dataclass(frozen=True)
class _SmtpConnection:
    smtp: smtplib.SMTP

    def send(self, message: EmailMessage, recipients: list[str]) -> None:
        refused = self.smtp.send_message(message, to_addrs=recipients)
        if refused:  # some recipients refused, the others took it: said, not retried
            log.warning("mail %s: recipients refused %s", message["Message-ID"], sorted(refused))


@dataclass(frozen=True)
class FolderTransport:
    """Development: each mail an ``.eml`` file, named by its id (a retry writes the same file)."""

    folder: Path

    @contextmanager
    def open(self) -> Iterator[Connection]:
        self.folder.mkdir(parents=True, exist_ok=True)
        yield self

    def send(self, message: EmailMessage, recipients: list[str]) -> None:
        name = message["Message-ID"].strip("<>").partition("@")[0]
        target = self.folder / f"{name}.eml"
        partial = target.with_suffix(".eml.partial")
        partial.write_bytes(message.as_bytes())
        os.replace(partial, target)


def transport_for(settings: Settings) -> SmtpTransport | FolderTransport:
    if settings.smtp_url:
        return SmtpTransport.from_url(settings.smtp_url, settings.mail_timeout_seconds)
    return FolderTransport(settings.mail_dir)


@dataclass(frozen=True)
class Outcome:
    mail_id: str
    at: datetime
    error: str | None = None
    final: bool = False  # the server said it never will


def _refusal(exc: Exception) -> tuple[str, bool]:
    """What went wrong, in French, and whether the server's answer is final (5xx)."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        return f"destinataires refusés par le serveur ({', '.join(sorted(exc.recipients))})", \
            all(500 <= code < 600 for code in codes)
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"refus du serveur SMTP ({exc.smtp_code} {exc.smtp_error!r:.200})", 500 <= exc.smtp_code < 600
    return f"serveur SMTP injoignable ({type(exc).__name__}: {str(exc)[:200]})", False


def send_due(database: Database, settings: Settings, *, now: datetime | None = None, limit: int = 100,
             transport: SmtpTransport | FolderTransport | None = None, budget_s: float = DRAIN_SECONDS) -> int:
    """The mails due, ``limit`` at a time (each batch on one connection), batch after batch while
    they come full and ``budget_s`` has not passed (a queue of thousands is drained without
    waiting for the deliverer's next pass); the number of attempts."""
    started = time.monotonic()
    total = 0
    while True:
        sent = _send_batch(database, settings, now=now, limit=limit, transport=transport)
        total += sent
        if sent < limit or time.monotonic() - started > budget_s:
            return total


def _send_batch(database: Database, settings: Settings, *, now: datetime | None, limit: int,
                transport: SmtpTransport | FolderTransport | None) -> int:
    """Every mail due at ``now`` (at most ``limit``), sent on one connection and recorded as it
    goes; the number of attempts."""
    now = now or utcnow()
    with Session(database.engine) as session:
        due = list(session.exec(select(MailMessage).where(
            col(MailMessage.status) == "pending", col(MailMessage.next_attempt_at) <= now)
            .order_by(col(MailMessage.next_attempt_at)).limit(limit)))
        session.expunge_all()
    if not due:
        return 0
    transport = transport or transport_for(settings)
    links = _unsubscribe_links(database, settings, due)
    outcomes: list[Outcome] = []
    recorded = 0

    def keep() -> None:  # what was sent is recorded as it goes: a crash sends again at most RECORD_EVERY
        nonlocal recorded
        if recorded < len(outcomes):
            done = outcomes[recorded:]
            database.writer.run_sync(lambda session: record(session, done, settings.mail_retry_delays))
            recorded = len(outcomes)

    try:
        with transport.open() as connection:
            for mail in due:
                if len(outcomes) - recorded >= RECORD_EVERY:
                    keep()
                try:
                    connection.send(compose(mail, sender=settings.mail_from, unsubscribe=links.get(mail.id)),
                                    mail.recipients)
                    outcomes.append(Outcome(mail.id, utcnow()))
                except (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused) as exc:
                    # the server answered about this mail: the connection serves the next one
                    outcomes.append(Outcome(mail.id, utcnow(), *_refusal(exc)))
                except (smtplib.SMTPException, OSError) as exc:
                    outcomes.append(Outcome(mail.id, utcnow(), *_refusal(exc)))
                    raise  # the connection is gone: the rest waits for the next pass
    except (smtplib.SMTPException, OSError) as exc:
        error, final = _refusal(exc)
        log.warning("mail: %s", error)
        tried = {o.mail_id for o in outcomes}
        outcomes += [Outcome(mail.id, utcnow(), error, final) for mail in due if mail.id not in tried]
    keep()
    return len(outcomes)


def _unsubscribe_links(database: Database, settings: Settings, due: list[MailMessage]) -> dict[str, str]:
    """The one-click unsubscribe link of each mail written to a person about a category it may
    turn off (the digests and the optional categories)."""
    offering = [mail for mail in due if mail.person_id is not None and unsubscribe.offered(mail.category)]
    if not offering:
        return {}
    key = database.writer.run_sync(unsubscribe.secret)
    mailing = Mailing.from_settings(settings)
    return {mail.id: unsubscribe.link(mailing, key, mail.person_id, mail.category)
            for mail in offering if mail.person_id is not None}


def record(session: Session, outcomes: list[Outcome], schedule: tuple[int, ...]) -> None:
    """Each attempt's result: ``sent``, or due again after the next delay, or ``failed``."""
    for outcome in outcomes:
        mail = session.get(MailMessage, outcome.mail_id)
        if mail is None or mail.status != "pending":
            continue
        mail.attempts += 1
        if outcome.error is None:
            mail.status, mail.sent_at, mail.next_attempt_at, mail.last_error = "sent", outcome.at, None, None
            continue
        mail.last_error = outcome.error[:500]
        if outcome.final or mail.attempts > len(schedule):
            mail.status, mail.next_attempt_at = "failed", None
            log.warning("mail %s failed after %d attempt(s): %s", mail.id, mail.attempts, outcome.error)
        else:
            mail.next_attempt_at = outcome.at + timedelta(seconds=schedule[mail.attempts - 1])
        session.add(mail)
