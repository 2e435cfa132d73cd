"""The deliverer killed with SIGKILL mid-run, again: every event queued is delivered at least
once afterwards (the next deliverer takes the lease over), none lost, and what was delivered
twice carries the same ``webhook-id``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import sqlalchemy as sa
from fastapi.testclient import TestClient
from standardwebhooks import Webhook

from service.main import create_app
from tests.conftest import ROOT, Api, make_settings, rows_for
from tests.webhooks.receiver import Receiver
from tests.webhooks.test_webhooks import subscribe

PUSHES_BEFORE, PUSHES_DURING, KILLS = 30, 30, 2


def deliverer(database_url: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SERVICE_DATABASE_URL": database_url, "SERVICE_WEBHOOKS_LOOPBACK_ONLY": "true",
           "SERVICE_WEBHOOKS_LEASE_S": "1", "SERVICE_WEBHOOKS_POLL_MS": "20", "SERVICE_WEBHOOKS_CONCURRENCY": "2"}
    return subprocess.Popen([sys.executable, "-m", "service", "webhooks", "deliver"], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_a_killed_deliverer_loses_nothing(database_url: str, receiver: Receiver) -> None:
    receiver.delay = 0.03  # a receiver that takes its time: kills land mid-delivery
    with TestClient(create_app(make_settings(database_url))) as client:
        api = Api(client)
        req = api.create_request()
        porteur = api.key("porteur", siret=req["siret"])
        sub = subscribe(api, porteur, receiver.url(), ["submission.stored"])

        def push(n: int) -> None:
            body = {"milestone": "va", "rows": rows_for(req, dmp_fed=n % 90)}
            assert api.push(req["galis_ref"], body, key=porteur).status_code == 201

        for n in range(PUSHES_BEFORE):
            push(n)
        running = deliverer(database_url)
        try:
            for kill in range(KILLS):
                receiver.wait_for(10 * (kill + 1), timeout=60)
                if kill == 0:
                    for n in range(PUSHES_DURING):  # queued while a deliverer runs, then dies
                        push(PUSHES_BEFORE + n)
                os.kill(running.pid, signal.SIGKILL)
                running.wait(timeout=10)
                running = deliverer(database_url)
            total = PUSHES_BEFORE + PUSHES_DURING
            deadline = time.monotonic() + 90
            while True:
                with api.database.engine.connect() as conn:
                    states = dict(conn.execute(sa.text("SELECT status, count(*) FROM webhook_delivery GROUP BY status"))
                                  .all())
                if states == {"delivered": total} or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            assert states == {"delivered": total}
        finally:
            running.send_signal(signal.SIGTERM)
            running.wait(timeout=30)

    with api.database.engine.connect() as conn:
        ids = {row[0] for row in conn.execute(sa.text("SELECT id FROM webhook_delivery"))}
    received = Counter(r.headers["webhook-id"] for r in receiver.received)
    assert set(received) == ids  # every event at least once, nothing else
    versions = sorted({Webhook(sub["secret"]).verify(r.body, r.headers)["data"]["version"]
                       for r in receiver.received})
    assert versions == list(range(1, total + 1))
