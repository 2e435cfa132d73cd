"""One caller's share of a process: at most ``per_caller`` of its requests in progress, the others
parked; another caller goes ahead of the parked ones."""

from __future__ import annotations

import asyncio
import time

import httpx

from service.http.limits import FairShare


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
