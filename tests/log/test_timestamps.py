"""Checkpoints time-stamped by an RFC 3161 authority: a local one on loopback (pyHanko's test
time-stamper behind a real HTTP server), and the reply checked by ``openssl ts -verify``."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from asn1crypto import keys as asn1_keys
from asn1crypto import tsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from fastapi.testclient import TestClient
from pyhanko.sign.timestamps.dummy_client import DummyTimeStamper

from service.main import create_app
from tests.conftest import Api, make_settings, rows_for


def _cert(subject: str, key: rsa.RSAPrivateKey, issuer: tuple[x509.Name, rsa.RSAPrivateKey] | None,
          *, ca: bool) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, issuer_key = issuer or (name, key)
    now = datetime.now(UTC)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1))
               .not_valid_after(now + timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), critical=True)
    return builder.sign(issuer_key, hashes.SHA256())


class Authority:
    """A time-stamping authority on loopback; ``fail`` makes it answer 500."""

    def __init__(self, folder: Path) -> None:
        ca_key, tsa_key = (rsa.generate_private_key(public_exponent=65537, key_size=2048) for _ in range(2))
        ca = _cert("AC d'essai", ca_key, None, ca=True)
        tsa = _cert("Horodatage d'essai", tsa_key, (ca.subject, ca_key), ca=False)
        self.ca_file = folder / "ac.pem"
        self.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        stamper = DummyTimeStamper(
            tsa_cert=asn1_x509.Certificate.load(tsa.public_bytes(serialization.Encoding.DER)),
            tsa_key=asn1_keys.PrivateKeyInfo.load(tsa_key.private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())))
        self.fail = False
        self.requests = 0
        authority = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's API)
                authority.requests += 1
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if authority.fail or self.headers["Content-Type"] != "application/timestamp-query":
                    self.send_response(500)
                    self.end_headers()
                    return
                reply = stamper.request_tsa_response(tsp.TimeStampReq.load(body)).dump()
                self.send_response(200)
                self.send_header("Content-Type", "application/timestamp-reply")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/tsa"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def authority(tmp_path: Path) -> Iterator[Authority]:
    tsa = Authority(tmp_path)
    yield tsa
    tsa.close()


def test_a_checkpoint_time_stamped_by_the_authority_verifies_with_openssl(
        database_url: str, authority: Authority, tmp_path: Path) -> None:
    settings = make_settings(database_url, tsa_url=authority.url, tsa_interval_s=3600)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        api = Api(client)
        sequencer = client.app.state.sequencer  # type: ignore[attr-defined]
        missing = client.get("/v1/log/checkpoint/timestamp", headers=api.auth(api.admin))
        assert (missing.status_code, missing.json()["code"]) == (404, "timestamp_not_found")
        req = api.create_request()
        api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req)})
        sequencer.run_once()
        size = sequencer.timestamp_once()
        assert size is not None
        answer = client.get("/v1/log/checkpoint/timestamp", headers=api.auth(api.admin))
        assert answer.status_code == 200 and answer.headers["content-type"] == "application/timestamp-reply"
        assert answer.headers["checkpoint-size"] == str(size)
        note = client.get("/v1/log/checkpoint", params={"size": size}, headers=api.auth(api.admin))
        assert note.status_code == 200 and note.text.split("\n")[1] == str(size)

        api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req, dmp_fed=41)})
        sequencer.run_once()
        assert sequencer.timestamp_once() is None, "at most one time-stamp per interval"
        assert authority.requests == 1

    (tmp_path / "note.txt").write_bytes(note.content)
    (tmp_path / "reply.tsr").write_bytes(answer.content)
    checked = subprocess.run(["openssl", "ts", "-verify", "-data", str(tmp_path / "note.txt"), "-in",
                              str(tmp_path / "reply.tsr"), "-CAfile", str(authority.ca_file)],
                             capture_output=True, text=True)
    assert "Verification: OK" in checked.stdout, checked.stdout + checked.stderr
    (tmp_path / "other.txt").write_bytes(note.content.replace(b"\n", b"\n ", 1))
    altered = subprocess.run(["openssl", "ts", "-verify", "-data", str(tmp_path / "other.txt"), "-in",
                              str(tmp_path / "reply.tsr"), "-CAfile", str(authority.ca_file)],
                             capture_output=True, text=True)
    assert "Verification: OK" not in altered.stdout


def test_an_authority_that_fails_leaves_the_checkpoint_untimestamped_and_logged(
        database_url: str, authority: Authority, caplog: pytest.LogCaptureFixture) -> None:
    authority.fail = True
    settings = make_settings(database_url, tsa_url=authority.url, tsa_interval_s=0)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        api = Api(client)
        api.create_request()
        client.app.state.sequencer.run_once()  # type: ignore[attr-defined]
        assert client.app.state.sequencer.timestamp_once() is None  # type: ignore[attr-defined]
        assert "500" in caplog.text
        authority.fail = False
        assert client.app.state.sequencer.timestamp_once() is not None  # type: ignore[attr-defined]
