"""Backing up and restoring the service: the database (online and consistent) and the proof
store, in a folder with a manifest of SHA-256 digests.

A backup folder holds:

* ``database.sqlite3`` (SQLite's online backup API: a consistent copy while the service writes)
  or ``database.pgdump`` (``pg_dump --format=custom``: one consistent snapshot);
* ``proofs/<sha256>``: every proof content the backed-up database refers to (on PostgreSQL, also
  those of proofs recorded since the snapshot), checked against its digest as it is copied. The
  database is copied first: a stored object is never changed nor removed while a proof refers to
  it, so every object the copy names is still there;
* ``manifest-sha256.txt`` (BagIt's form: ``<sha256>  <path>``) for every file above, and
  ``backup.json`` (when, from which backend and schema revision, how many proofs).

Restoring fills a configured, **empty** database and proof store (a non-empty target is
refused, nothing is touched; a store holding some of this backup's own objects, from a restore
that stopped half-way, is taken as empty); the manifest is checked whole before anything is
written, the proofs are restored before the database.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from service.kit.db import is_sqlite
from service.kit.storage import ProofStore
from service.models import utcnow

MANIFEST = "manifest-sha256.txt"
DESCRIPTION = "backup.json"
SQLITE_FILE = "database.sqlite3"
PG_DUMP_FILE = "database.pgdump"
CHUNK = 1 << 20


class BackupRefused(Exception):
    """Why a backup or a restore cannot be done (French), nothing having been changed."""


@dataclass(frozen=True)
class BackupReport:
    folder: Path
    database_file: str
    proofs: int
    bytes: int


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _libpq_url(url: str) -> str:
    """The SQLAlchemy URL as ``pg_dump`` and ``pg_restore`` read it."""
    return sa.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _sqlite_path(url: str) -> Path:
    database = sa.make_url(url).database
    if not database or database == ":memory:":
        raise BackupRefused("base SQLite en mémoire : rien à sauvegarder ni à restaurer")
    return Path(database)


def _revision(url: str) -> str | None:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one_or_none()
    except sa.exc.SQLAlchemyError:
        return None
    finally:
        engine.dispose()


def backup(url: str, store: ProofStore, folder: Path) -> BackupReport:
    """Write a backup of the database at ``url`` and of ``store`` into ``folder`` (absent or empty)."""
    if folder.exists() and any(folder.iterdir()):
        raise BackupRefused(f"le dossier {folder} n'est pas vide : une sauvegarde va dans un dossier neuf")
    (folder / "proofs").mkdir(parents=True, exist_ok=True)
    if is_sqlite(url):
        database_file = SQLITE_FILE
        with sqlite3.connect(_sqlite_path(url)) as source, sqlite3.connect(folder / SQLITE_FILE) as target:
            source.backup(target)
        target_url = f"sqlite:///{folder / SQLITE_FILE}"
    else:
        database_file = PG_DUMP_FILE
        done = subprocess.run(["pg_dump", "--format=custom", "--no-owner", "--file", str(folder / PG_DUMP_FILE),
                               "--dbname", _libpq_url(url)], capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BackupRefused(f"pg_dump a échoué : {done.stderr.strip()[:500]}")
        target_url = url  # the proofs the snapshot names are read from the live database, after it
    digests = _referenced(target_url)
    total = 0
    for digest in sorted(digests):
        path = folder / "proofs" / digest
        with store.open_verified(digest) as source, path.open("wb") as out:
            shutil.copyfileobj(source, out, CHUNK)
        total += path.stat().st_size
    _write_manifest(folder, [database_file, *(f"proofs/{d}" for d in sorted(digests))])
    (folder / DESCRIPTION).write_text(json.dumps({
        "created_at": utcnow().isoformat(), "backend": "sqlite" if is_sqlite(url) else "postgresql",
        "database_file": database_file, "schema_revision": _revision(url), "proofs": len(digests),
        "proof_bytes": total}, indent=2) + "\n", encoding="utf-8")
    return BackupReport(folder, database_file, len(digests), total)


def _referenced(url: str) -> set[str]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return {str(d) for d in conn.execute(sa.text("SELECT DISTINCT sha256 FROM proof")).scalars()}
    finally:
        engine.dispose()


def _write_manifest(folder: Path, paths: list[str]) -> None:
    lines = [f"{_sha256_of(folder / path)}  {path}\n" for path in paths]
    manifest = folder / MANIFEST
    manifest.write_text("".join(lines), encoding="utf-8")
    with manifest.open("rb") as handle:
        os.fsync(handle.fileno())


def check(folder: Path) -> tuple[dict[str, object], list[str]]:
    """The backup's description and its files, every one checked against the manifest;
    ``BackupRefused`` naming the first that is missing, altered or not in the manifest."""
    try:
        described = json.loads((folder / DESCRIPTION).read_text(encoding="utf-8"))
        lines = (folder / MANIFEST).read_text(encoding="utf-8").splitlines()
    except (OSError, ValueError) as exc:
        raise BackupRefused(f"sauvegarde illisible dans {folder} ({exc})") from None
    paths = []
    for number, line in enumerate(lines, start=1):
        digest, _, path = line.partition("  ")
        if len(digest) != 64 or not path or ".." in Path(path).parts or Path(path).is_absolute():
            raise BackupRefused(f"manifeste, ligne {number} : « {line[:100]} » n'est pas « <sha256>  <chemin> »")
        if not (folder / path).is_file():
            raise BackupRefused(f"fichier absent de la sauvegarde : {path}")
        if _sha256_of(folder / path) != digest:
            raise BackupRefused(f"fichier altéré dans la sauvegarde : {path} (son SHA-256 n'est plus celui du "
                                "manifeste)")
        if path.startswith("proofs/") and Path(path).name != digest:
            raise BackupRefused(f"preuve mal nommée dans la sauvegarde : {path}")
        paths.append(path)
    database_file = described.get("database_file")
    if database_file not in paths:
        raise BackupRefused("le manifeste ne couvre pas la base de données de la sauvegarde")
    listed = {f"proofs/{p.name}" for p in (folder / "proofs").iterdir()} if (folder / "proofs").is_dir() else set()
    if extra := sorted(listed - set(paths)):
        raise BackupRefused(f"fichier hors manifeste dans la sauvegarde : {extra[0]}")
    return described, paths


def _empty_database(url: str) -> None:
    if is_sqlite(url):
        path = _sqlite_path(url)
        if path.exists() and path.stat().st_size > 0:
            raise BackupRefused(f"la base cible {path} n'est pas vide (le fichier existe) : la restauration "
                                "remplit une base vide")
        return
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            tables = conn.execute(sa.text(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'")).scalar_one()
    except sa.exc.SQLAlchemyError as exc:
        raise BackupRefused(f"base cible injoignable ({str(exc).splitlines()[0][:200]})") from None
    finally:
        engine.dispose()
    if tables:
        raise BackupRefused(f"la base cible n'est pas vide ({tables} table(s)) : la restauration remplit une base "
                            "vide")


def restore(folder: Path, url: str, store: ProofStore) -> BackupReport:
    """Fill the empty database at ``url`` and the empty ``store`` from the backup in ``folder``."""
    described, paths = check(folder)
    _empty_database(url)
    kept = {Path(p).name for p in paths if p.startswith("proofs/")}
    if any(digest not in kept for digest, _ in store.objects()):  # this backup's own: a restore resumed
        raise BackupRefused("le stockage des preuves cible n'est pas vide : la restauration remplit un stockage vide")
    database_file = str(described["database_file"])
    if (database_file == SQLITE_FILE) != is_sqlite(url):
        raise BackupRefused(f"sauvegarde d'une base {described.get('backend')} : la base cible est d'un autre type")
    total = 0
    proofs = [p for p in paths if p.startswith("proofs/")]
    for path in proofs:
        staged = store.new_staging_file()
        with (folder / path).open("rb") as source, staged:
            shutil.copyfileobj(source, staged, CHUNK)
            staged.flush()
            os.fsync(staged.fileno())
        store.put(Path(path).name, Path(staged.name))
        total += (folder / path).stat().st_size
    if database_file == SQLITE_FILE:
        target = _sqlite_path(url)
        target.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(folder / SQLITE_FILE) as source, sqlite3.connect(target) as copy:
            source.backup(copy)
    else:
        done = subprocess.run(["pg_restore", "--no-owner", "--exit-on-error", "--single-transaction", "--dbname",
                               _libpq_url(url), str(folder / PG_DUMP_FILE)], capture_output=True, text=True,
                              check=False)
        if done.returncode != 0:
            raise BackupRefused(f"pg_restore a échoué : {done.stderr.strip()[:500]}")
    return BackupReport(folder, database_file, len(proofs), total)
