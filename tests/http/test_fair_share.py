"""One caller's share of a process: at most ``per_caller`` of its requests in progress, and one
costly request at a time, the others parked; another caller goes ahead of the parked ones."""

from __future__ import annotations

import asyncio
import time

import httpx
from starlette.requests import Request

from service.http.limits import FairShare, hold_costly


def test_a_caller_holds_at_most_its_share_and_another_goes_ahead() -> None:
    in_progress: dict[str, int] = {}
    most: dict[str, int] = {}
    finished: list[tuple[str, float]] = []

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        who = dict(scope["headers"]).get(b"authorization", b"-").decode()
        in_progress[who] = in_progress.get(who, 0) + 1
        most[who] = max(most.get(who, 0), in_progress[who])
        await asyncio.sleep(0.05)
        in_progress[who] -= 1
        finished.append((who, time.monotonic()))
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    shared = FairShare(app, per_caller=2)

    async def run() -> None:
        transport = httpx.ASGITransport(app=shared)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            flood = [client.get("/v1/me", headers={"Authorization": "Bearer A"}) for _ in range(10)]
            tasks = [asyncio.ensure_future(call) for call in flood]
            await asyncio.sleep(0.01)  # the flood is in, and parked beyond its share
            other = await client.get("/v1/me", headers={"Authorization": "Bearer B"})
            assert other.status_code == 200
            assert [r.status_code for r in await asyncio.gather(*tasks)] == [200] * 10

    asyncio.run(run())
    assert most == {"Bearer A": 2, "Bearer B": 1}
    b_done = next(at for who, at in finished if who == "Bearer B")
    assert sum(1 for who, at in finished if who == "Bearer A" and at > b_done) >= 6  # B did not wait for the flood
    assert shared._gates == {}  # nothing kept once everyone is served


def test_the_caller_is_its_key_else_its_session_else_its_address() -> None:
    def scope(headers: list[tuple[bytes, bytes]], client: str = "10.0.0.1") -> dict[str, object]:
        return {"type": "http", "headers": headers, "client": (client, 1234)}

    key = FairShare.caller(scope([(b"authorization", b"Bearer esms_a")]))
    assert key == FairShare.caller(scope([(b"authorization", b"Bearer esms_a")], client="10.0.0.2"))
    assert key != FairShare.caller(scope([(b"authorization", b"Bearer esms_b")]))
    session = FairShare.caller(scope([(b"cookie", b"theme=sombre; esms_console=jeton1; autre=2")]))
    assert session == FairShare.caller(scope([(b"cookie", b"esms_console=jeton1")], client="10.0.0.9"))
    assert session != FairShare.caller(scope([(b"cookie", b"esms_console=jeton2")]))
    assert FairShare.caller(scope([])) != FairShare.caller(scope([], client="10.0.0.2"))


def test_a_caller_runs_one_costly_request_at_a_time_until_its_answer_is_sent() -> None:
    """``hold_costly``: a caller's costly requests one after the other, each held until the last
    byte of its answer (a streamed bundle) or its failure; its ordinary requests and another
    caller's costly ones go on meanwhile."""
    events: list[tuple[str, str]] = []
    costly_now: dict[str, int] = {}
    most: dict[str, int] = {}

    async def app(scope, receive, send):  # type: ignore[no-untyped-def]
        who = dict(scope["headers"]).get(b"authorization", b"-").decode()
        path = scope["path"]
        if path.startswith("/costly"):
            await hold_costly(Request(scope, receive))
            costly_now[who] = costly_now.get(who, 0) + 1
            most[who] = max(most.get(who, 0), costly_now[who])
            events.append((who, f"start {path}"))
            if path == "/costly/fails":
                costly_now[who] -= 1
                raise RuntimeError("échec après avoir pris son tour")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        if path.startswith("/costly"):
            await send({"type": "http.response.body", "body": b"debut", "more_body": True})
            await asyncio.sleep(0.05)  # the answer is still being sent: the turn is still held
            costly_now[who] -= 1
            events.append((who, f"sent {path}"))
        await send({"type": "http.response.body", "body": b"fin"})

    shared = FairShare(app, per_caller=4, costly_per_caller=1)

    async def run() -> None:
        transport = httpx.ASGITransport(app=shared, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
            a = {"Authorization": "Bearer A"}
            costly = [asyncio.ensure_future(client.get(p, headers=a))
                      for p in ("/costly/1", "/costly/fails", "/costly/3")]
            await asyncio.sleep(0.01)
            plain = await client.get("/v1/me", headers=a)  # not held behind A's costly ones
            assert plain.status_code == 200 and costly_now["Bearer A"] == 1
            other = await client.get("/costly/b", headers={"Authorization": "Bearer B"})
            assert other.status_code == 200
            answers = await asyncio.gather(*costly)
            assert [r.status_code for r in answers] == [200, 500, 200]

    asyncio.run(run())
    assert most == {"Bearer A": 1, "Bearer B": 1}
    a_events = [what for who, what in events if who == "Bearer A"]
    assert a_events == ["start /costly/1", "sent /costly/1", "start /costly/fails", "start /costly/3",
                        "sent /costly/3"]  # one after the other; a failure gives its turn back
    assert ("Bearer B", "start /costly/b") in events[:3]  # B did not wait for A's turn
    assert shared._gates == {}
