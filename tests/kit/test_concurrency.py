"""Versions have no gap and no duplicate under concurrent pushes, also across processes.

Several application instances (each with its own engine and writer, as several workers would
have) push to the same request at the same time from many threads.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from service.audit.trail import verify
from service.main import create_app
from tests.conftest import Api, make_settings, rows_for

INSTANCES = 4
PUSHES = 24


def instances(stack: ExitStack, database_url: str, *, writer_threads: int) -> list[TestClient]:
    """INSTANCES applications on the same database, each with its own engine and writer."""
    return [stack.enter_context(TestClient(create_app(make_settings(database_url, writer_threads=writer_threads)),
                                           raise_server_exceptions=False)) for _ in range(INSTANCES)]


def test_concurrent_pushes_get_consecutive_versions(api: Api, database_url: str) -> None:
    req = api.create_request(vsr_on="2024-06-01")
    body = {"milestone": "fin_projet", "rows": rows_for(req)}
    headers = api.auth(api.admin)
    with ExitStack() as stack:
        clients = instances(stack, database_url, writer_threads=4)

        def push(i: int) -> tuple[int, int | None]:
            response = clients[i % INSTANCES].post(f"/v1/funding-requests/{req['galis_ref']}/submissions",
                                                   json=body, headers=headers)
            return response.status_code, response.json().get("version")

        with ThreadPoolExecutor(max_workers=PUSHES) as pool:
            results = list(pool.map(push, range(PUSHES)))

    assert [status for status, _ in results] == [201] * PUSHES
    assert sorted(version for _, version in results) == list(range(1, PUSHES + 1))
    listed = api.client.get(f"/v1/funding-requests/{req['galis_ref']}/submissions",
                            params={"milestone": "fin_projet", "limit": 100}, headers=headers).json()["items"]
    assert sorted(item["version"] for item in listed) == list(range(1, PUSHES + 1))
    assert verify(api.database.engine) == (api.count("audit_event"), None)


def test_concurrent_writes_on_several_requests_all_land_in_the_log(api: Api, database_url: str) -> None:
    """Groups of writes on different requests, in several processes: groups that lock the same
    requests in another order may deadlock on PostgreSQL and are run again, never answered
    with an error; every event is stored once, and the log takes them all without a gap."""
    reqs = [api.create_request() for _ in range(3)]
    headers = api.auth(api.admin)
    with ExitStack() as stack:
        clients = instances(stack, database_url, writer_threads=4)

        def push(i: int) -> int:
            req = reqs[i % len(reqs)]
            return int(clients[i % INSTANCES].post(f"/v1/funding-requests/{req['galis_ref']}/submissions",
                                                   json={"milestone": "va", "rows": rows_for(req)},
                                                   headers=headers).status_code)

        with ThreadPoolExecutor(max_workers=PUSHES) as pool:
            statuses = list(pool.map(push, range(PUSHES)))

    assert statuses == [201] * PUSHES
    count, broken = verify(api.database.engine)
    assert broken is None and count == api.count("audit_event") == 3 + 1 + 3 + PUSHES  # requests, key, VA events
    api.sequence()
    with api.database.engine.connect() as conn:
        indexes = sorted(conn.execute(sa.text("SELECT log_index FROM audit_event")).scalars())
    assert indexes == list(range(count))


def test_a_refused_push_among_concurrent_ones_leaves_no_gap(api: Api) -> None:
    req = api.create_request()
    good = {"milestone": "va", "rows": rows_for(req)}
    bad = {"milestone": "va", "rows": rows_for(req, active_dui=-1)}
    headers = api.auth(api.admin)

    def push(i: int) -> int:
        response = api.client.post(f"/v1/funding-requests/{req['galis_ref']}/submissions",
                                   json=bad if i % 3 == 0 else good, headers=headers)
        return response.status_code

    with ThreadPoolExecutor(max_workers=12) as pool:
        statuses = list(pool.map(push, range(21)))
    assert statuses.count(422) == 7 and statuses.count(201) == 14
    listed = api.client.get(f"/v1/funding-requests/{req['galis_ref']}/submissions",
                            params={"limit": 100}, headers=headers).json()["items"]
    assert sorted(item["version"] for item in listed) == list(range(1, 15))


def test_the_same_idempotency_key_sent_at_once_through_several_processes_stores_one_version(
        api: Api, database_url: str) -> None:
    req = api.create_request()
    body = {"milestone": "va", "rows": rows_for(req)}
    headers = {**api.auth(api.admin), "Idempotency-Key": "lot-2024-03-31"}
    with ExitStack() as stack:
        clients = instances(stack, database_url, writer_threads=2)

        def push(i: int) -> tuple[int, str | None]:
            response = clients[i % INSTANCES].post(f"/v1/funding-requests/{req['galis_ref']}/submissions",
                                                   json=body, headers=headers)
            return response.status_code, response.json().get("id")

        with ThreadPoolExecutor(max_workers=12) as pool:
            results = list(pool.map(push, range(12)))

    statuses = sorted(status for status, _ in results)
    assert statuses == [200] * 11 + [201], results
    assert len({submission_id for _, submission_id in results}) == 1
    assert api.count("submission") == 1


def test_a_unit_failing_after_its_audit_event_leaves_no_trace_of_it(api: Api) -> None:
    """A group whose middle unit fails after appending its event: the group is run again with
    one savepoint per unit; the failed unit's event goes with it, the others are kept."""
    import threading

    from service.audit import trail as audit
    from service.domain.access import Principal, Role
    from service.kit.db import _Work

    actor = Principal(key_id=0, role=Role.ADMIN, label="test")

    def unit(name: str, fail: bool = False) -> _Work:
        def fn(session: Any) -> int:
            seq = audit.record(session, actor, name, "test", name, payload={"n": name})
            if fail:
                raise ValueError("refused after its event")
            return seq

        return _Work(fn=fn, loop=None, future=None, done=threading.Event())

    before = api.count("audit_event")
    works = [unit("a"), unit("b", fail=True), unit("c")]
    api.database.writer._commit_group(works)
    assert isinstance(works[1].error, ValueError) and works[0].error is None and works[2].error is None
    assert works[2].result > works[0].result  # numbers increase (a sequence may leave gaps)
    assert api.count("audit_event") == before + 2
    with api.database.engine.connect() as conn:
        assert set(conn.execute(sa.text("SELECT action FROM audit_event WHERE object_type = 'test'")).scalars()) \
            == {"a", "c"}
    assert verify(api.database.engine) == (before + 2, None)
    assert verify(api.database.engine) == (before + 2, None)


def test_two_transactions_that_deadlock_are_run_again_and_both_committed(api: Api, backend: str) -> None:
    """Two units lock two requests in opposite orders: PostgreSQL aborts one of them (deadlock);
    the writer runs it again instead of answering an error."""
    if backend != "postgresql":
        pytest.skip("SQLite has one writer at a time: no deadlock between transactions")
    import threading

    from service.audit import trail as audit
    from service.domain.access import Principal, Role
    from service.kit.db import Writer

    first, second = (api.create_request() for _ in range(2))
    with api.database.engine.connect() as conn:
        ids = dict(conn.execute(sa.text("SELECT galis_ref, id FROM funding_request")).all())
    a, b = ids[first["galis_ref"]], ids[second["galis_ref"]]
    barrier = threading.Barrier(2, timeout=10)
    attempts: dict[int, int] = {a: 0, b: 0}
    lock = sa.text("SELECT id FROM funding_request WHERE id = :i FOR UPDATE")

    def unit(mine: int, other: int) -> Any:
        def fn(session: Any) -> int:
            attempts[mine] += 1
            session.connection().execute(lock, {"i": mine})
            if attempts[mine] == 1:
                barrier.wait()  # both hold their first lock before asking for the other's
            session.connection().execute(lock, {"i": other})
            return audit.record(session, Principal(key_id=0, role=Role.ADMIN, label="test"), "locked", "test",
                                str(mine), payload={})
        return fn

    writer = Writer(api.database.write_engine, threads=2, batch_size=1)
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:
            results = list(pool.map(writer.run_sync, [unit(a, b), unit(b, a)]))
    finally:
        writer.close()
    assert len(set(results)) == 2
    assert sorted(attempts.values()) == [1, 2]  # one ran once, the one the server aborted ran twice
    with api.database.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM audit_event WHERE action = 'locked'")).scalar_one() == 2
