"""The log as an auditor checks it: the verifier functions at the top of this file use only
``hashlib``, ``base64`` and ``cryptography`` — none of the service's modules — and check, from
what the API answers, the checkpoint's signature, the inclusion of every event of a request and
the consistency of two checkpoints taken before and after. Then the sequencer's order, the
impossible proof requests, and ``audit verify`` against an honest and a rewritten history."""

from __future__ import annotations

import base64
import hashlib
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi.testclient import TestClient

from service.audit.trail import link_of
from service.main import create_app
from service.models import AuditEvent
from tests.conftest import Api, LiveService, make_settings, rows_for
from tests.test_cli import run_cli

# --- the auditor's own verifier, from RFC 9162 and C2SP signed-note / tlog-checkpoint --------

def _node(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def checkpoint_of(note: str, vkey: str) -> tuple[str, int, bytes]:
    name, key_id, encoded = vkey.split("+", 2)
    public = base64.b64decode(encoded)[1:]
    assert hashlib.sha256(name.encode() + b"\n\x01" + public).digest()[:4].hex() == key_id
    text, _, signatures = note.partition("\n\n")
    for line in signatures.splitlines():
        signer, blob = line.removeprefix("\u2014 ").split(" ")
        raw = base64.b64decode(blob)
        if signer == name and raw[:4].hex() == key_id:
            Ed25519PublicKey.from_public_bytes(public).verify(raw[4:], (text + "\n").encode())
            origin, size, root = text.split("\n")[:3]
            return origin, int(size), base64.b64decode(root)
    raise AssertionError("checkpoint not signed by the published key")


def included(index: int, size: int, leaf_hash: bytes, path: list[bytes], root: bytes) -> bool:
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in path:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            r = _node(p, r)
            while fn % 2 == 0 and fn != 0:
                fn, sn = fn // 2, sn // 2
        else:
            r = _node(r, p)
        fn, sn = fn // 2, sn // 2
    return sn == 0 and r == root


def consistent(first: int, second: int, first_root: bytes, second_root: bytes, path: list[bytes]) -> bool:
    if first == second:
        return not path and first_root == second_root
    if first & (first - 1) == 0:
        path = [first_root, *path]
    fn, sn = first - 1, second - 1
    while fn % 2 == 1:
        fn, sn = fn // 2, sn // 2
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn % 2 == 1 or fn == sn:
            fr, sr = _node(c, fr), _node(c, sr)
            while fn % 2 == 0 and fn != 0:
                fn, sn = fn // 2, sn // 2
        else:
            sr = _node(sr, c)
        fn, sn = fn // 2, sn // 2
    return fr == first_root and sr == second_root and sn == 0


# --- the service ------------------------------------------------------------------------------

def get(api: Api, path: str, **params: Any) -> Any:
    response = api.client.get(path, params=params, headers=api.auth(api.admin))
    assert response.status_code == 200, response.text
    return response


def test_an_auditor_verifies_signature_inclusion_and_consistency_with_their_own_code(
        live_service: LiveService) -> None:
    """Over a real socket, with httpx: what an auditor's script does."""
    http = httpx.Client(base_url=live_service.base_url, headers={"Authorization": f"Bearer {live_service.admin_key}"})
    service = Api(http)  # type: ignore[arg-type]  # the same helpers, over the network
    service._admin = live_service.admin_key

    def fetch(path: str, **params: Any) -> httpx.Response:
        response = http.get(path, params=params)
        assert response.status_code == 200, response.text
        return response

    def sequenced() -> None:
        live_service.app.state.sequencer.run_once()  # what its thread does within a second

    req = service.create_request()
    http.post(f"/v1/funding-requests/{req['galis_ref']}/submissions", json={"milestone": "va", "rows": rows_for(req)})
    sequenced()
    key = fetch("/v1/log/key").json()
    first_note = fetch("/v1/log/checkpoint")
    assert first_note.headers["content-type"] == "text/plain; charset=utf-8"
    origin, first_size, first_root = checkpoint_of(first_note.text, key["vkey"])
    assert origin == key["origin"] and first_size >= 3

    http.post(f"/v1/funding-requests/{req['galis_ref']}/submissions",
              json={"milestone": "va", "rows": rows_for(req, dmp_fed=41)})
    sequenced()
    _, second_size, second_root = checkpoint_of(fetch("/v1/log/checkpoint").text, key["vkey"])
    assert second_size > first_size

    events = fetch("/v1/audit-events", galis_ref=req["galis_ref"]).json()["items"]
    assert len(events) >= 4 and all(e["index"] is not None for e in events)
    for event in events:
        leaf = base64.b64decode(event["leaf"])
        assert f'"object_id":"{event["object_id"]}"' in leaf.decode()
        proof = fetch("/v1/log/proofs/inclusion", index=event["index"], tree_size=second_size).json()
        leaf_hash = hashlib.sha256(b"\x00" + leaf).digest()
        assert proof["leaf_hash"] == leaf_hash.hex()
        assert included(event["index"], second_size, leaf_hash, [bytes.fromhex(h) for h in proof["hashes"]],
                        second_root)

    proof = fetch("/v1/log/proofs/consistency", first=first_size, second=second_size).json()
    path = [bytes.fromhex(h) for h in proof["hashes"]]
    assert consistent(first_size, second_size, first_root, second_root, path)
    forged = hashlib.sha256(b"un autre historique").digest()
    assert not consistent(first_size, second_size, forged, second_root, path)
    http.close()


def test_events_are_sequenced_in_order_without_gap_and_each_batch_signs_a_checkpoint(api: Api) -> None:
    for _ in range(3):
        api.create_request()
    api.sequence()
    first = api.count("log_checkpoint")
    api.create_request()
    api.sequence()
    assert api.sequence() is None  # nothing left: no new checkpoint
    with api.database.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT seq, log_index FROM audit_event ORDER BY seq")).all()
        sizes = [s for (s,) in conn.execute(sa.text("SELECT size FROM log_checkpoint ORDER BY size"))]
    assert [index for _, index in rows] == list(range(len(rows)))
    assert api.count("log_checkpoint") == first + 1 and sizes[-1] == len(rows)


@pytest.mark.parametrize(("path", "params", "field"), [
    ("/v1/log/proofs/inclusion", {"index": 5, "tree_size": 5}, "index"),
    ("/v1/log/proofs/inclusion", {"index": 0, "tree_size": 10**6}, "tree_size"),
    ("/v1/log/proofs/consistency", {"first": 0, "second": 1}, "first"),
    ("/v1/log/proofs/consistency", {"first": 3, "second": 2}, "first"),
    ("/v1/log/proofs/consistency", {"first": 1, "second": 10**6}, "second"),
])
def test_impossible_proof_requests_are_422(api: Api, path: str, params: dict[str, int], field: str) -> None:
    for _ in range(2):
        api.create_request()
    api.sequence()
    response = api.client.get(path, params=params, headers=api.auth(api.admin))
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["code"] == "proof_impossible"
    assert response.json()["errors"][0]["field"] == field


def test_the_background_sequencer_indexes_a_commit_within_its_interval(database_url: str) -> None:
    with TestClient(create_app(make_settings(database_url, log_sequence_interval_ms=50))) as client:
        api = Api(client)
        req = api.create_request(va_on=None)
        indexes: list[Any] = [None]
        for _ in range(100):
            indexes = [e["index"] for e in get(api, "/v1/audit-events", galis_ref=req["galis_ref"]).json()["items"]]
            if indexes and None not in indexes:
                break
            time.sleep(0.05)
        assert indexes and None not in indexes


def audit_verify(database_url: str, *args: str) -> Any:
    return run_cli(database_url, "audit", "verify", *args)


def rewrite_history(api: Api, seq: int, label: str) -> None:
    """What someone with write access to the database does to change an event unnoticed: edit
    it, recompute its hash, rebuild the log and sign it afresh with the log key."""
    with api.database.engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit_event SET actor_label = :l WHERE seq = :s"), {"l": label, "s": seq})
        row = conn.execute(sa.select(AuditEvent.__table__).where(AuditEvent.seq == seq)).one()  # type: ignore[attr-defined]
        conn.execute(sa.text("UPDATE audit_event SET hash = :h WHERE seq = :s"), {"h": link_of(row).hash(), "s": seq})
        conn.execute(sa.text("UPDATE audit_event SET log_index = NULL"))
        for table in ("log_node", "log_checkpoint"):
            conn.execute(sa.text(f"DELETE FROM {table}"))
        conn.execute(sa.text("UPDATE log_state SET size = 0"))
    api.sequence()


def test_audit_verify_checks_the_log_and_a_rewritten_history_fails_against_a_witness(
        api: Api, database_url: str, tmp_path: Path) -> None:
    req = api.create_request()
    api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)})
    api.sequence()
    witness = tmp_path / "checkpoint.txt"
    witness.write_text(get(api, "/v1/log/checkpoint").text, encoding="utf-8")  # an auditor keeps it
    api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req, dmp_fed=41)})
    api.sequence()

    honest = audit_verify(database_url, "--checkpoint", str(witness))
    assert honest.returncode == 0, honest.stdout + honest.stderr
    assert "cohérent avec le point de contrôle du témoin" in honest.stdout

    with api.database.engine.connect() as conn:
        victim = conn.execute(sa.text("SELECT seq FROM audit_event WHERE action = 'submission_stored' "
                                      "ORDER BY seq LIMIT 1")).scalar_one()
    rewrite_history(api, victim, "quelqu'un d'autre")
    alone = audit_verify(database_url)
    assert alone.returncode == 0, alone.stdout  # every stored hash recomputed, signed afresh: it holds together
    against = audit_verify(database_url, "--checkpoint", str(witness))
    assert against.returncode == 1
    assert "réécrit" in against.stdout


def test_audit_verify_finds_an_event_edited_behind_the_log(api: Api, database_url: str) -> None:
    req = api.create_request()
    api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)})
    api.sequence()
    assert audit_verify(database_url).returncode == 0
    with api.database.engine.begin() as conn:
        seq, index = conn.execute(sa.text("SELECT seq, log_index FROM audit_event ORDER BY seq DESC LIMIT 1")).one()
        conn.execute(sa.text("UPDATE audit_event SET object_id = 'autre' WHERE seq = :s"), {"s": seq})
    edited = audit_verify(database_url)
    assert edited.returncode == 1 and ("modifié" in edited.stdout), edited.stdout
