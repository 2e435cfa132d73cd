"""``python -m service serve`` against slow and vanishing peers, over real sockets on loopback:
headers that never end and bodies that never come are answered 408 and closed; half-open
connections do not starve the others; workers (and their webhook deliverers and workbook
writers) stop when their supervisor is killed with ``kill -9``, so that the port is free again."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests import factories
from tests.conftest import ROOT, rows_for, sqlite_with_admin
from tests.pg_cluster import free_port
from tests.processes import alive, children_of, command_of, descendants_of


@dataclass
class Served:
    process: subprocess.Popen[bytes]
    port: int
    key: str

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def served(tmp_path: Path, *, workers: int = 1, environment: dict[str, str] | None = None,
           **settings: str) -> Iterator[Served]:
    url, key = sqlite_with_admin(tmp_path / "served.sqlite3", label="exploitation")
    port = free_port()
    env = {**os.environ, "SERVICE_DATABASE_URL": url, "SERVICE_STORAGE_DIR": str(tmp_path / "proofs"),
           "SERVICE_SIGNING_DIR": str(tmp_path / "signing"), "SERVICE_LOG_DIR": str(tmp_path / "signing"),
           "SERVICE_RATE_LIMITS": "off", **{f"SERVICE_{name.upper()}": value for name, value in settings.items()},
           **(environment or {})}
    process = subprocess.Popen([sys.executable, "-m", "service", "serve", "--port", str(port), "--workers",
                                str(workers)], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.05)
        yield Served(process, port, key)
    finally:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait(timeout=20)


def read_until_closed(sock: socket.socket, within: float) -> tuple[bytes, float]:
    """What the server sends until it closes the connection, and how long that took."""
    sock.settimeout(within)
    began, received = time.monotonic(), b""
    while chunk := sock.recv(65536):
        received += chunk
    return received, time.monotonic() - began


def read_response(sock: socket.socket) -> tuple[bytes, bytes]:
    """One whole answer (its head, its body of Content-Length bytes), the connection left open."""
    sock.settimeout(5)
    received = b""
    while b"\r\n\r\n" not in received:
        received += sock.recv(65536)
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    while len(body) < length:
        body += sock.recv(65536)
    return head, body


def test_headers_that_never_end_are_answered_408_and_closed(tmp_path: Path) -> None:
    with served(tmp_path, headers_timeout_seconds="1") as server:
        half = socket.create_connection(("127.0.0.1", server.port))
        half.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Lent: ")  # and nothing more
        silent = socket.create_connection(("127.0.0.1", server.port))  # not even a byte
        received, took = read_until_closed(half, within=10)
        assert received.startswith(b"HTTP/1.1 408 ") and b"connection: close" in received.lower()
        assert 0.8 < took < 5
        assert read_until_closed(silent, within=10)[0].startswith(b"HTTP/1.1 408 ")
        # a keep-alive connection: its second request trickles, the bound applies again
        kept = socket.create_connection(("127.0.0.1", server.port))
        kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        head, body = read_response(kept)
        assert head.startswith(b"HTTP/1.1 200 ") and body == b'{"status":"ok"}'
        kept.sendall(b"GET /healthz HTTP/1.1\r\n")
        again, took = read_until_closed(kept, within=10)
        assert again.startswith(b"HTTP/1.1 408 ") and took < 5
        for sock in (half, silent, kept):
            sock.close()


def test_a_body_that_never_comes_is_answered_408_and_nothing_is_stored(tmp_path: Path) -> None:
    with served(tmp_path, body_timeout_seconds="1") as server:
        payload = json.dumps(factories.funding_request()).encode()
        slow = socket.create_connection(("127.0.0.1", server.port))
        slow.sendall(b"POST /v1/funding-requests HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Authorization: Bearer " + server.key.encode() + b"\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % len(payload) + payload[:20])
        received, took = read_until_closed(slow, within=10)
        head, _, body = received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 ") and b"connection: close" in head.lower()
        problem = json.loads(body)
        assert problem["code"] == "request_timeout" and "1 s" in problem["detail"]
        assert 0.8 < took < 5
        auth = {"Authorization": f"Bearer {server.key}"}
        listed = httpx.get(f"{server.base}/v1/funding-requests", headers=auth)
        assert listed.status_code == 200 and listed.json()["items"] == []
        # an upload trickling its file part likewise: no proof, no staging file left
        req = factories.funding_request()
        assert httpx.post(f"{server.base}/v1/funding-requests", json=req, headers=auth).status_code == 201
        assert httpx.post(f"{server.base}/v1/funding-requests/{req['galis_ref']}/events", headers=auth,
                          json={"type": "va_validated", "date": "2024-03-01"}).status_code == 201
        version = httpx.post(f"{server.base}/v1/funding-requests/{req['galis_ref']}/submissions", headers=auth,
                             json={"milestone": "va", "rows": rows_for(req)}).json()["id"]
        upload = socket.create_connection(("127.0.0.1", server.port))
        upload.sendall(f"POST /v1/submissions/{version}/proofs HTTP/1.1\r\n".encode()
                       + b"Host: 127.0.0.1\r\nAuthorization: Bearer " + server.key.encode() + b"\r\n"
                       b"Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: 100000\r\n\r\n--xyz\r\n"
                       b'Content-Disposition: form-data; name="file"; filename="p.pdf"\r\n\r\n%PDF-1.4\n')
        head = read_until_closed(upload, within=10)[0].split(b"\r\n")[0]
        assert head == b"HTTP/1.1 408 Request Timeout"
        assert httpx.get(f"{server.base}/v1/submissions/{version}", headers=auth).json()["proofs"] == []
        assert list((tmp_path / "proofs" / "staging").iterdir()) == []
        slow.close()
        upload.close()


def test_half_open_connections_do_not_starve_the_others(tmp_path: Path) -> None:
    with served(tmp_path, headers_timeout_seconds="2", max_connections="40") as server:
        hanging = []
        for _ in range(60):  # more than the cap: those beyond it are answered 503, then closed
            sock = socket.create_connection(("127.0.0.1", server.port))
            sock.sendall(b"GET /healthz HTTP/1.1\r\n")
            hanging.append(sock)
        time.sleep(2.5)  # the bound on headers frees them
        answers = [httpx.get(f"{server.base}/healthz", timeout=5).status_code for _ in range(20)]
        assert answers == [200] * 20
        for sock in hanging:
            sock.close()


def test_workers_deliverers_and_writers_stop_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    with served(tmp_path, workers=2, webhooks_deliverer="process") as server:
        auth = {"Authorization": f"Bearer {server.key}"}
        req = factories.funding_request()
        assert httpx.post(f"{server.base}/v1/funding-requests", json=req, headers=auth).status_code == 201
        for _ in range(4):  # workbooks written out of the workers: each worker that served one has its writer
            template = httpx.get(f"{server.base}/v1/funding-requests/{req['galis_ref']}/template.xlsx", headers=auth)
            assert template.status_code == 200 and template.content.startswith(b"PK")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            workers = children_of(server.process.pid)
            below = {pid for worker in workers for pid in descendants_of(worker)}
            # each worker's deliverer, and under a worker that wrote a workbook its fork server and
            # the writer forked from it (whichever workers served the four requests)
            deliverers = {pid for pid in below if "webhooks" in command_of(pid)}
            writers = {child for pid in below if "forkserver" in command_of(pid) for child in children_of(pid)}
            if len(workers) >= 2 and len(deliverers) >= 2 and writers:
                break
            time.sleep(0.2)
        assert len(workers) >= 2 and len(deliverers) >= 2 and writers, (workers, below)
        os.kill(server.process.pid, signal.SIGKILL)
        server.process.wait(timeout=10)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(alive(pid) for pid in workers | below):
            time.sleep(0.2)
        assert not [pid for pid in workers | below if alive(pid)]  # every process under the master
        with socket.socket() as sock:  # the port is free for a restarted master
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", server.port))
