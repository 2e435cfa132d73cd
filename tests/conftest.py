"""Test harness: the same API suite runs on SQLite and on a real PostgreSQL server.

The schema is built by ``alembic upgrade head`` once per backend; each test then gets a clean
database (a copy of the migrated SQLite file, or the PostgreSQL tables truncated).
"""

from __future__ import annotations

import errno
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from fastapi.testclient import TestClient

from service.access.keys import create_api_key
from service.domain.access import Role
from service.domain.audit import GENESIS
from service.domain.targets import INDICATOR_KEYS, INITIAL_SETS
from service.kit.settings import Settings
from service.main import create_app
from service.models import SQLModel, TargetSetRow, utcnow
from tests import factories
from tests.pg_cluster import PostgresCluster, free_port

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


def alembic_config(url: str) -> Config:
    config = Config(str(ROOT / "alembic.ini"))
    config.set_main_option("sqlalchemy.url", url)
    config.attributes["configure_logger"] = False
    return config


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster().start()
    yield cluster
    cluster.stop()


@dataclass
class MigratedDatabase:
    backend: str
    url: str
    template: Path | None = None


@pytest.fixture(scope="session", params=BACKENDS)
def migrated_db(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> MigratedDatabase:
    if request.param == "sqlite":
        template = tmp_path_factory.mktemp("sqlite") / "template.sqlite3"
        url = f"sqlite:///{template}"
        command.upgrade(alembic_config(url), "head")
        return MigratedDatabase("sqlite", url, template)
    cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    url = cluster.create_database("esms_test")
    command.upgrade(alembic_config(url), "head")
    return MigratedDatabase("postgresql", url)


@pytest.fixture
def database_url(migrated_db: MigratedDatabase, tmp_path: Path) -> str:
    if migrated_db.template is not None:
        copy = tmp_path / "service.sqlite3"
        shutil.copyfile(migrated_db.template, copy)
        return f"sqlite:///{copy}"
    engine = sa.create_engine(migrated_db.url)
    with engine.begin() as conn:
        # rows the migrations put there: reset, not emptied
        kept = ("audit_head", "log_state", "target_set", "organisation")
        tables = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables if t.name not in kept)
        conn.execute(sa.text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        conn.execute(sa.text("DELETE FROM organisation WHERE kind IN ('porteur', 'editeur')"))
        conn.execute(sa.text("UPDATE organisation SET contact_email = NULL"))
        conn.execute(sa.text("UPDATE audit_head SET seq = 0, hash = :genesis"), {"genesis": GENESIS})
        conn.execute(sa.text("UPDATE log_state SET size = 0"))
        conn.execute(sa.text("DELETE FROM target_set"))
        conn.execute(sa.insert(TargetSetRow.__table__), [  # type: ignore[attr-defined]
            {**{k: getattr(ts, k) for k in ("id", "label", "campaign_year", "category", "binding", *INDICATOR_KEYS)},
             "created_at": utcnow(), "updated_at": utcnow()} for ts in INITIAL_SETS])
    engine.dispose()
    return migrated_db.url


@pytest.fixture
def backend(migrated_db: MigratedDatabase) -> str:
    return migrated_db.backend


#: One development signing key for the whole run, generated on first use, outside the work tree.
SIGNING_DIR = Path(tempfile.mkdtemp(prefix="esms-signing-"))


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"database_url": database_url, "api_key_cache_seconds": 0.0,
                              "storage_dir": Path(tempfile.mkdtemp(prefix="esms-proofs-")),
                              # mails as .eml files of the test (a test sets smtp_url to reach aiosmtpd)
                              "mail_dir": Path(tempfile.mkdtemp(prefix="esms-mail-")),
                              "signing_dir": SIGNING_DIR, "log_dir": SIGNING_DIR,
                              # tests sequence the log themselves (app.state.sequencer.run_once()), unless they
                              # set a short interval to watch the background thread
                              "log_sequence_interval_ms": 60_000,
                              # the feed of changes shows them at once (a test sets a delay to see it)
                              "feed_settle_seconds": 0.0,
                              # tests deliver webhooks themselves (app.state.deliverer.run_once()), to loopback only
                              "webhooks_deliverer": "off", "webhooks_loopback_only": True,
                              # the console as the tests reach it (TestClient's default base): cookies not Secure
                              "public_url": "http://127.0.0.1",
                              # logging as pytest sets it (tests/http/test_request_ids.py reads the JSON lines)
                              "log_format": "text",
                              # rate limits where a test sets them (tests/http/test_rate_limits.py)
                              "rate_limits": "off", "rate_limit_delay_seconds": 0.0}
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def storage_settings(tmp_path: Path) -> dict[str, Any]:
    """Where the proofs of the test's app go (a folder of the test; see tests/proofs/test_proofs.py for S3)."""
    return {"storage_dir": tmp_path / "proofs"}


@pytest.fixture
def client(database_url: str, storage_settings: dict[str, Any]) -> Iterator[TestClient]:
    settings = make_settings(database_url, **storage_settings)
    with TestClient(create_app(settings), raise_server_exceptions=False) as test_client:
        yield test_client


class Api:
    """Helpers to drive the service through HTTP, plus key creation through the use case."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self._admin: str | None = None

    @property
    def database(self) -> Any:
        return self.client.app.state.database  # type: ignore[attr-defined]

    def key(self, role: str, **scope: Any) -> str:
        def create(session: Any) -> str:
            return create_api_key(session, role=Role(role), **scope)[1]

        return self.database.writer.run_sync(create)  # type: ignore[no-any-return]

    def sequence(self) -> Any:
        """One batch of the log's sequencer, as its thread runs within the interval."""
        return self.client.app.state.sequencer.run_once()  # type: ignore[attr-defined]

    @property
    def admin(self) -> str:
        if self._admin is None:
            self._admin = self.key("admin", label="admin de test")
        return self._admin

    @staticmethod
    def auth(key: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {key}"}

    def create_request(self, *, va_on: str | None = "2024-03-01", vsr_on: str | None = None,
                       **overrides: Any) -> dict[str, Any]:
        payload = factories.funding_request(**overrides)
        response = self.client.post("/v1/funding-requests", json=payload, headers=self.auth(self.admin))
        assert response.status_code == 201, response.text
        if va_on:
            self.event(payload["galis_ref"], "va_validated", va_on)
        if vsr_on:
            self.event(payload["galis_ref"], "vsr_validated", vsr_on)
        return payload

    def event(self, galis_ref: str, kind: str, on: str, until: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": kind, "date": on}
        if until:
            body["until"] = until
        response = self.client.post(f"/v1/funding-requests/{galis_ref}/events", json=body,
                                    headers=self.auth(self.admin))
        assert response.status_code == 201, response.text
        return response.json()  # type: ignore[no-any-return]

    def push(self, galis_ref: str, body: Any, *, key: str | None = None, headers: dict[str, str] | None = None,
             **params: Any) -> Any:
        return self.client.post(f"/v1/funding-requests/{galis_ref}/submissions", json=body, params=params,
                                headers={**self.auth(key or self.admin), **(headers or {})})

    def push_file(self, galis_ref: str, content: bytes, *, filename: str | None = None, milestone: str | None = "va",
                  key: str | None = None, headers: dict[str, str] | None = None, **params: Any) -> Any:
        """Send a template file as a spreadsheet user would: ``mesures-usage-<ref>.xlsx`` by default."""
        data = {"milestone": milestone} if milestone is not None else {}
        name = filename if filename is not None else f"mesures-usage-{galis_ref}.xlsx"
        return self.client.post(f"/v1/funding-requests/{galis_ref}/submissions", params=params, data=data,
                                files={"file": (name, content, "application/vnd.openxmlformats-officedocument"
                                                                ".spreadsheetml.sheet")},
                                headers={**self.auth(key or self.admin), **(headers or {})})

    def upload_proof(self, submission_id: str, content: bytes | None, *, key: str | None = None,
                     filename: str = "preuve.pdf", content_type: str | None = "application/pdf",
                     **fields: str) -> Any:
        """Upload ``content`` as a proof; the metadata defaults to what ``factories.row`` declares."""
        data = {"finess": "", "measured_on": "2024-04-02", "period_start": "2024-01-01", "period_end": "2024-03-31",
                "signed_by": "Marie Dupont, directrice générale", **fields}
        files = {"file": (filename, content, content_type)} if content is not None else None
        return self.client.post(f"/v1/submissions/{submission_id}/proofs", data=data, files=files,
                                headers=self.auth(key or self.admin))

    def count(self, table: str) -> int:
        with self.database.engine.connect() as conn:
            return int(conn.execute(sa.text(f"SELECT count(*) FROM {table}")).scalar_one())


@pytest.fixture
def api(client: TestClient) -> Api:
    return Api(client)


def rows_for(request_payload: dict[str, Any], **overrides: Any) -> list[dict[str, Any]]:
    """One valid row per establishment of a request."""
    return [factories.row(**{"finess": e["finess"], "raison_sociale": e.get("name") or "ESMS", **overrides})
            for e in request_payload["establishments"]]


@dataclass
class LiveService:
    """The service over real HTTP on loopback (uvicorn in a thread), on its own SQLite file."""

    base_url: str
    admin_key: str
    app: Any


def sqlite_with_admin(path: Path, *, label: str) -> tuple[str, str]:
    """A SQLite database at ``path`` migrated to the head, with an admin key: its URL and the key."""
    from sqlmodel import Session

    from service.kit.db import create_db_engine

    url = f"sqlite:///{path}"
    command.upgrade(alembic_config(url), "head")
    engine = create_db_engine(url, pool_size=1, write=True)
    with Session(engine, expire_on_commit=False) as session, session.begin():
        _, key = create_api_key(session, role=Role.ADMIN, label=label)
    engine.dispose()
    return url, key


@contextmanager
def running_service(tmp_path: Path, *, public_host: str = "127.0.0.1", **overrides: Any) -> Iterator[LiveService]:
    """The service on a free loopback port, reached as ``public_host`` (its ``public_url``), its
    settings changed by ``overrides``."""
    import threading
    import time

    import uvicorn


    url, key = sqlite_with_admin(tmp_path / "live.sqlite3", label="intégrateur")
    port = free_port()
    app = create_app(make_settings(url, **{"storage_dir": tmp_path / "proofs",
                                           "public_url": f"http://{public_host}:{port}", **overrides}))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(200):
        if server.started:
            break
        time.sleep(0.05)
    assert server.started, "the service did not start"
    try:
        yield LiveService(f"http://127.0.0.1:{port}", key, app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def live_service(tmp_path: Path) -> Iterator[LiveService]:
    with running_service(tmp_path) as live:
        yield live


@contextmanager
def small_disk(path: Path, size: str) -> Iterator[Path]:
    """A file system of ``size`` (tmpfs) mounted at ``path`` for the block; the test is skipped where
    mounting is not allowed (not root, no tmpfs)."""
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        pytest.skip(f"no tmpfs can be mounted here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "--lazy", str(path)], check=False)


def fill_disk(folder: Path) -> Path:
    """Fill the file system of ``folder`` to its last byte with one file, returned (delete it to
    give the room back)."""
    filler = folder / "remplissage"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (1 << 16, 4096, 512, 1):  # large blocks, then the last partial ones
            try:
                while os.write(fd, b"\0" * size):
                    pass
            except OSError as exc:
                assert exc.errno == errno.ENOSPC, exc
    finally:
        os.close(fd)
    return filler
