"""The deliverer killed with SIGKILL in the middle of a batch of mails, twice: every queued mail
is received at least once afterwards, a mail received again is the same mail (same Message-ID,
recipient and subject), at most the mails sent since the last record are sent again, and every
mail ends ``sent``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable

import sqlalchemy as sa
from sqlmodel import Session

from service.kit.db import Database
from service.notifications import outbox, sending
from tests.conftest import ROOT, make_settings
from tests.notifications.conftest import Inbox

MAILS, KILLS = 240, 2


def deliverer(database_url: str, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SERVICE_DATABASE_URL": database_url, "SERVICE_SMTP_URL": f"smtp://127.0.0.1:{port}",
           "SERVICE_MAIL_FROM": "ESMS <ne-pas-repondre@esms.example>", "SERVICE_WEBHOOKS_LEASE_S": "1",
           "SERVICE_WEBHOOKS_POLL_MS": "20", "SERVICE_PUBLIC_URL": "https://esms.example"}
    return subprocess.Popen([sys.executable, "-m", "service", "webhooks", "deliver"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def wait_until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "délai dépassé"
        time.sleep(0.02)


def test_a_killed_deliverer_loses_no_mail(database_url: str, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    inbox.delay = 0.01  # a server that takes its time: the kills land mid-batch
    database = Database(make_settings(database_url))
    try:
        def queue_all(session: Session) -> list[str]:
            ids = []
            for n in range(MAILS):
                mail = outbox.queue(session, category="message", template="message.posted", recipients=[
                    f"personne{n}@example.org"], context={"galis_ref": "12345678", "porteur": "Association",
                                                          "author": "ARS", "body": f"Message {n}", "posted": "hier",
                                                          "link": "https://esms.example/console/"})
                assert mail is not None
                ids.append(mail.id)
            return ids
        ids = database.writer.run_sync(queue_all)
        running = deliverer(database_url, port)
        try:
            for kill in range(KILLS):
                wait_until(lambda k=kill: len(inbox.received) >= 60 * (k + 1), timeout=60)  # type: ignore[misc]
                os.kill(running.pid, signal.SIGKILL)
                running.wait(timeout=10)
                running = deliverer(database_url, port)

            def all_sent() -> bool:
                with database.engine.connect() as conn:
                    return dict(conn.execute(sa.text("SELECT status, count(*) FROM mail_message GROUP BY status"))
                                .all()) == {"sent": MAILS}
            wait_until(all_sent, timeout=90)
        finally:
            running.send_signal(signal.SIGTERM)
            running.wait(timeout=30)
    finally:
        database.close()
    received = Counter(message["Message-ID"] for _, message in inbox.received)
    assert set(received) == {f"<{mail_id}@esms.example>" for mail_id in ids}  # each at least once, nothing else
    by_id = {}
    for to, message in inbox.received:  # a mail sent again is the same mail
        assert by_id.setdefault(message["Message-ID"], (to, message["Subject"])) == (to, message["Subject"])
    # what a kill can make the next deliverer send again: the mails sent since the last record
    assert sum(received.values()) - MAILS <= KILLS * sending.RECORD_EVERY
