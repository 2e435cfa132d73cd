"""The schema is built by Alembic only: models and migrations agree, every revision walks
up and down (stairway), on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory

from tests.conftest import BACKENDS, alembic_config
from tests.pg_cluster import PostgresCluster


@pytest.fixture(params=BACKENDS)
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'stairway.sqlite3'}"
    cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    return cluster.create_database("stairway")


def test_models_and_migrations_agree(fresh_url: str) -> None:
    config = alembic_config(fresh_url)
    command.upgrade(config, "head")
    command.check(config)  # raises when autogenerate would find a difference


def test_the_descending_indexes_are_as_the_models_say(fresh_url: str) -> None:
    """What autogenerate cannot compare (``migrations/env.py``), compared here."""
    import sqlalchemy as sa

    command.upgrade(alembic_config(fresh_url), "head")
    engine = sa.create_engine(fresh_url)
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            defs = dict(conn.execute(sa.text("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = "
                                             "'control_case'")).all())
        else:
            defs = dict(conn.execute(sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND "
                                             "tbl_name = 'control_case'")).all())
    engine.dispose()
    assert "score DESC, opened_at, id" in defs["ix_control_case_queue"].replace('"', "")
    assert "status, score DESC, opened_at, id" in defs["ix_control_case_status_queue"].replace('"', "")
    assert "ix_control_case_status_score" not in defs


def test_stairway_every_revision_upgrades_downgrades_and_upgrades_again(fresh_url: str) -> None:
    config = alembic_config(fresh_url)
    revisions = list(ScriptDirectory.from_config(config).walk_revisions("base", "heads"))
    revisions.reverse()
    assert revisions, "no migration found"
    for revision in revisions:
        command.upgrade(config, revision.revision)
        command.downgrade(config, revision.down_revision or "base")
        command.upgrade(config, revision.revision)


def test_migration_files_follow_the_naming_convention() -> None:
    versions = Path(__file__).resolve().parent.parent / "migrations" / "versions"
    names = [p.name for p in versions.glob("*.py")]
    assert names and all(len(n) > 16 and n[4] == "-" and n[10] == "-" and n[15] == "_" for n in names), names


def test_the_chain_of_an_existing_database_still_verifies_after_the_log_takes_over(fresh_url: str) -> None:
    """Events chained before the end of the chain keep their links; events written after it are
    numbered after them (a sequence on PostgreSQL) and stand alone; ``audit verify`` walks both."""
    import json
    from datetime import UTC, datetime

    import sqlalchemy as sa
    from sqlmodel import Session

    from service.audit import trail as service_audit
    from service.domain import audit

    config = alembic_config(fresh_url)
    command.upgrade(config, "7d2e4a91c3b8")  # the log exists, writers still chain their events
    engine = sa.create_engine(fresh_url)
    prev = audit.GENESIS
    with engine.begin() as conn:
        for seq in (1, 2, 3):
            payload = {"n": seq}
            link = audit.Link(seq=seq, occurred_at=datetime(2024, 1, 1, 12, seq, tzinfo=UTC), actor_key_id=None,
                              actor_role="admin", actor_label="ligne de commande", action="chained",
                              object_type="test", object_id=str(seq), galis_ref=None,
                              payload_digest=audit.payload_digest(payload), prev_hash=prev)
            prev = link.hash()
            conn.execute(sa.text(
                "INSERT INTO audit_event (seq, occurred_at, actor_role, actor_label, action, object_type, object_id, "
                "payload, payload_digest, prev_hash, hash) VALUES (:seq, :at, 'admin', 'ligne de commande', 'chained', "
                "'test', :oid, :payload, :digest, :prev, :hash)"),
                {"seq": seq, "at": link.occurred_at if conn.dialect.name == "postgresql" else
                 link.occurred_at.isoformat(), "oid": str(seq), "payload": json.dumps(payload),
                 "digest": link.payload_digest, "prev": link.prev_hash, "hash": prev})
        conn.execute(sa.text("UPDATE audit_head SET seq = 3, hash = :h"), {"h": prev})
    command.upgrade(config, "head")
    try:
        with Session(engine) as session:
            seqs = [service_audit.record(session, service_audit.OPERATOR, "after", "test", str(n), payload={"n": n})
                    for n in range(2)]
            session.commit()
        assert seqs == [4, 5]
        assert service_audit.verify(engine) == (5, None)
        with engine.begin() as conn:  # an edit inside the chain is still found at its event
            conn.execute(sa.text("UPDATE audit_event SET object_id = 'autre' WHERE seq = 2"))
        count, broken = service_audit.verify(engine)
        assert count == 1 and broken is not None and broken.seq == 2
    finally:
        engine.dispose()


def test_the_migration_fills_the_latest_rates_as_the_push_keeps_them(fresh_url: str) -> None:
    """The maintained rates of a database that had versions before the table existed are the ones
    the pushes would have written: same rows, same rates and flags."""
    import sqlalchemy as sa
    from fastapi.testclient import TestClient

    from service.main import create_app
    from tests import factories
    from tests.conftest import Api, make_settings, rows_for

    config = alembic_config(fresh_url)
    command.upgrade(config, "head")
    with TestClient(create_app(make_settings(fresh_url))) as client:
        api = Api(client)
        for department, categories, dmp in (("33", ("500", "354"), (10, 70)), ("2A", ("500",), (95,))):
            req = api.create_request(establishments=[{"finess": factories.finess(department), "name": "ESMS",
                                                      "category": c} for c in categories])
            for fed in dmp:
                assert api.push(req["galis_ref"], {"milestone": "va", "rows": rows_for(req, dmp_fed=fed)}
                                ).status_code == 201

    engine = sa.create_engine(fresh_url)

    def kept() -> list[tuple[object, ...]]:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text("SELECT * FROM latest_rate ORDER BY finess, milestone"))]

    try:
        pushed = kept()
        assert len(pushed) == 3 and {r[4] for r in pushed} == {1, 2}  # the version column
        command.downgrade(config, "8a3b5d7f9c20")
        command.upgrade(config, "head")
        assert kept() == pushed
    finally:
        engine.dispose()


#: Before the organisations: one key per role and scope, and what each could see.
_OLD_REQUESTS = {"11111111": ("73282932000074", "75"), "22222222": ("73282932000074", "75"),
                 "33333333": ("77501234700016", "75"), "44444444": ("31005678300015", "94")}
_OLD_KEYS = {
    "admin": ("admin", None, None, []), "cnsa": ("cnsa_auditor", None, None, []),
    "ars-75": ("ars_reviewer", "75", None, []), "ars-94": ("ars_reviewer", "94", None, []),
    "ars-11": ("ars_reviewer", "11", None, []),
    "porteur-a": ("porteur", None, "73282932000074", []), "porteur-b": ("porteur", None, "77501234700016", []),
    "porteur-sans-demande": ("porteur", None, "33020123700022", []),
    "editeur-1": ("vendor", None, None, ["11111111", "33333333"]),
    "editeur-2": ("vendor", None, None, ["11111111", "44444444", "55555555"]),  # 55555555: not registered yet
    "editeur-vide": ("vendor", None, None, []),
}


def _could_see(name: str, ref: str, siret: str, region: str) -> bool:
    """The rule of the keys before the organisations, written out again."""
    role, key_region, key_siret, refs = _OLD_KEYS[name]
    return role in ("admin", "cnsa_auditor") or key_region == region or key_siret == siret or ref in refs


def test_the_keys_move_into_organisations_and_mandates_without_seeing_more_or_less(fresh_url: str) -> None:
    """A database of the previous head with keys of every role: after the migration each key
    lists and reads exactly the requests it could before, and pushes where it could; a vendor's
    reference that was not yet registered becomes visible once it is, as before."""
    import json
    from datetime import UTC, datetime

    import sqlalchemy as sa
    from fastapi.testclient import TestClient

    from service.access.keys import hash_key
    from service.main import create_app
    from tests import factories
    from tests.conftest import Api, make_settings

    config = alembic_config(fresh_url)
    command.upgrade(config, "a1c3e5f7b902")
    engine = sa.create_engine(fresh_url)
    now = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
    at = now if fresh_url.startswith("postgresql") else now.isoformat()
    secrets = {name: f"esms_{index:07d}" + "x" * 36 for index, name in enumerate(_OLD_KEYS)}
    with engine.begin() as conn:
        for ref, (siret, region) in _OLD_REQUESTS.items():
            conn.execute(sa.text("INSERT INTO funding_request (galis_ref, siret, porteur_name, campaign_year, "
                                 "region_code, va_last_version, fin_projet_last_version, created_at) VALUES (:r, :s, "
                                 ":n, 2024, :g, 0, 0, :at)"),
                         {"r": ref, "s": siret, "n": f"Porteur de {ref}", "g": region, "at": at})
        for name, (role, region, siret, refs) in _OLD_KEYS.items():
            conn.execute(sa.text("INSERT INTO api_key (key_hash, prefix, role, region_code, siret, galis_refs, label, "
                                 "created_at) VALUES (:h, :p, :role, :g, :s, :refs, :label, :at)"),
                         {"h": hash_key(secrets[name]), "p": secrets[name][:12], "role": role, "g": region,
                          "s": siret, "refs": json.dumps(refs), "label": name, "at": at})
    command.upgrade(config, "head")

    with engine.connect() as conn:
        orgs = {row.label: (row.kind, row.name) for row in conn.execute(sa.text(
            "SELECT k.label, o.kind, o.name FROM api_key k JOIN organisation o ON o.id = k.organisation_id"))}
        mandates = sorted(tuple(r) for r in conn.execute(sa.text(
            "SELECT k.label, m.galis_ref FROM mandate m JOIN api_key k ON k.organisation_id = m.editeur_id")))
    engine.dispose()
    assert orgs["admin"][0] == "administration" and orgs["cnsa"][0] == "cnsa"
    assert orgs["ars-75"] == ("ars", "ARS Nouvelle-Aquitaine") and orgs["ars-11"] == ("ars", "ARS Île-de-France")
    assert orgs["porteur-a"] == ("porteur", "Porteur de 11111111")  # named after its first request
    assert orgs["porteur-sans-demande"] == ("porteur", "Porteur 33020123700022")
    assert {orgs[n] for n in ("editeur-1", "editeur-2", "editeur-vide")} == {
        ("editeur", "editeur-1"), ("editeur", "editeur-2"), ("editeur", "editeur-vide")}  # one each: nothing pooled
    assert mandates == [("editeur-1", "11111111"), ("editeur-1", "33333333"), ("editeur-2", "11111111"),
                        ("editeur-2", "44444444"), ("editeur-2", "55555555")]

    with TestClient(create_app(make_settings(fresh_url))) as client:
        api = Api(client)
        for name, secret in secrets.items():
            headers = api.auth(secret)
            listed = {item["galis_ref"] for item in
                      client.get("/v1/funding-requests", params={"limit": 500}, headers=headers).json()["items"]}
            expected = {ref for ref, (siret, region) in _OLD_REQUESTS.items() if _could_see(name, ref, siret, region)}
            assert listed == expected, name
            for ref in _OLD_REQUESTS:
                status = client.get(f"/v1/funding-requests/{ref}", headers=headers).status_code
                assert status == (200 if ref in expected else 404), (name, ref)
            me = client.get("/v1/me", headers=headers).json()
            assert me["type"] == "api_key" and me["role"] == _OLD_KEYS[name][0] and me["manager"] is (name == "admin")
            if _OLD_KEYS[name][0] == "vendor":
                assert me["scope"]["galis_refs"] == sorted(_OLD_KEYS[name][3])
        # the reference editeur-2 was given before its request existed: registered now, it is in its scope
        api._admin = secrets["admin"]
        created = api.create_request(galis_ref="55555555", establishments=[
            {"finess": factories.finess("24"), "name": "EHPAD enregistré après"}])
        assert created["galis_ref"] == "55555555"
        assert client.get("/v1/funding-requests/55555555", headers=api.auth(secrets["editeur-2"])).status_code == 200
        assert client.get("/v1/funding-requests/55555555", headers=api.auth(secrets["editeur-1"])).status_code == 404


def test_fin_de_projet_windows_open_at_the_migration_are_reminded_not_told_overdue_at_once(fresh_url: str) -> None:
    """The windows already open when the mails arrive: those past due are marked told (no burst of
    overdue mails about old deadlines at the first pass), the others reminded from D-30; the
    versions already waiting in the ARS's queue are not announced again."""
    from datetime import date, timedelta

    import sqlalchemy as sa
    from fastapi.testclient import TestClient

    from service.main import create_app
    from tests.conftest import Api, make_settings, rows_for

    config = alembic_config(fresh_url)
    command.upgrade(config, "head")
    today = date.today()
    with TestClient(create_app(make_settings(fresh_url))) as client:
        api = Api(client)
        late = api.create_request(vsr_on=(today - timedelta(days=200)).isoformat())  # due 3 months later: past
        soon = api.create_request(vsr_on=(today - timedelta(days=10)).isoformat())
        assert api.push(soon["galis_ref"], {"milestone": "va", "rows": rows_for(soon)}).status_code == 201
    command.downgrade(config, "e6a8c0d2f435")  # before the notifications
    command.upgrade(config, "head")
    engine = sa.create_engine(fresh_url)
    try:
        with engine.connect() as conn:
            rows = {r.galis_ref: r for r in conn.execute(sa.text(
                "SELECT galis_ref, fin_projet_due_on, fin_projet_overdue_told_on, fin_projet_next_reminder_on "
                "FROM funding_request"))}
            waiting = conn.execute(sa.text("SELECT review_told FROM submission WHERE awaiting_review")).scalars().all()
    finally:
        engine.dispose()

    def day(value: object) -> date | None:
        return value if isinstance(value, date) or value is None else date.fromisoformat(str(value))

    past, coming = rows[late["galis_ref"]], rows[soon["galis_ref"]]
    assert day(past.fin_projet_overdue_told_on) == day(past.fin_projet_due_on)
    assert past.fin_projet_next_reminder_on is None
    assert coming.fin_projet_overdue_told_on is None
    assert day(coming.fin_projet_next_reminder_on) == day(coming.fin_projet_due_on) - timedelta(days=30)
    assert waiting == [True] or waiting == [1]
