"""Who acts: organisations, people and mandates. Every key moves into its organisation, and a
vendor key's list of GALIS references becomes mandates of an éditeur organisation of its own,
so that no key may do more or less than before. The records that name who acted gain the
person beside the key.

- The administration, the CNSA and one ARS per région are made here (reference data); a
  porteur organisation for each SIRET of a request or of a porteur key, named after the
  porteur of its first request.
- Admin keys become managers of the administration (they could already do everything); every
  other key is a member (managing was an administrator's only).
- A vendor key gets an éditeur organisation of its own, so that two keys with different lists
  do not pool their mandates.

Revision ID: c4e6a8b0d213
Revises: a1c3e5f7b902
Create Date: 2026-12-07 09:00:00.000000
"""
from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

from service.domain.identifiers import REGIONS

revision: str = 'c4e6a8b0d213'
down_revision: str | None = 'a1c3e5f7b902'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ADMINISTRATION_NAME = "Administration du service"
CNSA_NAME = "CNSA"

#: The tables whose rows name who acted: ``<column>_by_key_id`` gains ``<column>_by_person_id``.
ACTOR_COLUMNS = (("funding_request", "created"), ("lifecycle_event", "recorded"), ("submission", "received"),
                 ("proof", "uploaded"), ("review", "decided"), ("control_case", "claimed"),
                 ("control_case", "closed"), ("proof_request", "requested"), ("finess_snapshot", "imported"))

_ORG = sa.table("organisation", sa.column("id", sa.Integer), sa.column("kind", sa.String),
                sa.column("name", sa.String), sa.column("siret", sa.String), sa.column("region_code", sa.String),
                sa.column("created_at", sa.DateTime(timezone=True)))
_MANDATE = sa.table("mandate", sa.column("id", sa.String), sa.column("galis_ref", sa.String),
                    sa.column("editeur_id", sa.Integer), sa.column("granted_at", sa.DateTime(timezone=True)))
_KEY = sa.table("api_key", sa.column("id", sa.Integer), sa.column("prefix", sa.String), sa.column("role", sa.String),
                sa.column("region_code", sa.String), sa.column("siret", sa.String), sa.column("label", sa.String),
                sa.column("galis_refs", sa.JSON), sa.column("created_at", sa.DateTime(timezone=True)),
                sa.column("organisation_id", sa.Integer), sa.column("manager", sa.Boolean))
_REQUEST = sa.table("funding_request", sa.column("id", sa.Integer), sa.column("siret", sa.String),
                    sa.column("porteur_name", sa.String))


def upgrade() -> None:
    op.create_table(
        'organisation',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('name', sa.String(length=300), nullable=False),
        sa.Column('siret', sa.String(length=14), nullable=True),
        sa.Column('region_code', sa.String(length=2), nullable=True),
        sa.Column('contact_email', sa.String(length=254), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_organisation')),
        sa.UniqueConstraint('kind', 'siret', name=op.f('uq_organisation_kind_siret')),
        sa.UniqueConstraint('kind', 'region_code', name=op.f('uq_organisation_kind_region_code')),
    )
    op.create_table(
        'person',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('organisation_id', sa.Integer(), nullable=False),
        sa.Column('email', sa.String(length=254), nullable=False),
        sa.Column('given_name', sa.String(length=200), nullable=False),
        sa.Column('usual_name', sa.String(length=200), nullable=False),
        sa.Column('role', sa.String(length=10), nullable=False),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('issuer', sa.String(length=300), nullable=True),
        sa.Column('subject', sa.String(length=255), nullable=True),
        sa.Column('invited_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_sign_in_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['organisation_id'], ['organisation.id'],
                                name=op.f('fk_person_organisation_id_organisation')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_person')),
        sa.UniqueConstraint('email', name=op.f('uq_person_email')),
        sa.UniqueConstraint('issuer', 'subject', name=op.f('uq_person_issuer_subject')),
    )
    op.create_index(op.f('ix_person_organisation_id'), 'person', ['organisation_id'], unique=False)
    op.create_table(
        'mandate',
        sa.Column('id', sa.String(length=36), nullable=False),
        sa.Column('galis_ref', sa.String(length=8), nullable=False),
        sa.Column('editeur_id', sa.Integer(), nullable=False),
        sa.Column('starts_on', sa.Date(), nullable=True),
        sa.Column('ends_on', sa.Date(), nullable=True),
        sa.Column('granted_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('granted_by_key_id', sa.Integer(), nullable=True),
        sa.Column('granted_by_person_id', sa.Integer(), nullable=True),
        sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('revoked_by_key_id', sa.Integer(), nullable=True),
        sa.Column('revoked_by_person_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['editeur_id'], ['organisation.id'],
                                name=op.f('fk_mandate_editeur_id_organisation')),
        sa.ForeignKeyConstraint(['granted_by_key_id'], ['api_key.id'],
                                name=op.f('fk_mandate_granted_by_key_id_api_key')),
        sa.ForeignKeyConstraint(['granted_by_person_id'], ['person.id'],
                                name=op.f('fk_mandate_granted_by_person_id_person')),
        sa.ForeignKeyConstraint(['revoked_by_key_id'], ['api_key.id'],
                                name=op.f('fk_mandate_revoked_by_key_id_api_key')),
        sa.ForeignKeyConstraint(['revoked_by_person_id'], ['person.id'],
                                name=op.f('fk_mandate_revoked_by_person_id_person')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_mandate')),
    )
    op.create_index(op.f('ix_mandate_galis_ref'), 'mandate', ['galis_ref'], unique=False)
    op.create_index('ix_mandate_editeur_ref', 'mandate', ['editeur_id', 'galis_ref'], unique=False)

    op.add_column('api_key', sa.Column('organisation_id', sa.Integer(), nullable=True))
    op.add_column('api_key', sa.Column('manager', sa.Boolean(), nullable=False, server_default=sa.false()))

    _move_keys_into_organisations(op.get_bind())

    with _rebuilt_under_references(), op.batch_alter_table('api_key', schema=None) as batch_op:
        batch_op.alter_column('organisation_id', existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column('manager', existing_type=sa.Boolean(), server_default=None)
        batch_op.create_index(batch_op.f('ix_api_key_organisation_id'), ['organisation_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_api_key_organisation_id_organisation'), 'organisation',
                                    ['organisation_id'], ['id'])
        batch_op.drop_column('galis_refs')

    # Added in place (SQLite's ALTER TABLE ADD COLUMN takes a REFERENCES clause): rebuilding these
    # tables in batch mode would lose their descending and partial indexes on SQLite.
    for table, verb in ACTOR_COLUMNS:
        column, constraint = f'{verb}_by_person_id', f'fk_{table}_{verb}_by_person_id_person'
        if op.get_bind().dialect.name == "sqlite":
            op.execute(f'ALTER TABLE {table} ADD COLUMN {column} INTEGER CONSTRAINT {constraint} '
                       'REFERENCES person (id)')
        else:
            op.add_column(table, sa.Column(column, sa.Integer(), nullable=True))
            op.create_foreign_key(op.f(constraint), table, 'person', [column], ['id'])
    op.add_column('audit_event', sa.Column('actor_person_id', sa.Integer(), nullable=True))
    op.add_column('audit_event', sa.Column('actor_organisation_id', sa.Integer(), nullable=True))
    with op.batch_alter_table('console_session', schema=None) as batch_op:
        batch_op.alter_column('key_id', existing_type=sa.Integer(), nullable=True)
        batch_op.add_column(sa.Column('person_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('id_token', sa.Text(), nullable=True))
        batch_op.create_index(batch_op.f('ix_console_session_person_id'), ['person_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_console_session_person_id_person'), 'person',
                                    ['person_id'], ['id'])


@contextmanager
def _rebuilt_under_references() -> Iterator[None]:
    """SQLite rebuilds a table to change it (batch mode): other tables' rows refer to it, so the
    rebuild runs with foreign keys off, in a transaction of its own, and ``foreign_key_check``
    must find nothing before they are on again (SQLite's documented procedure). PostgreSQL
    alters in place."""
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        yield
        return
    bind.exec_driver_sql("COMMIT")
    bind.exec_driver_sql("PRAGMA foreign_keys = OFF")
    bind.exec_driver_sql("BEGIN IMMEDIATE")
    yield
    problems = bind.exec_driver_sql("PRAGMA foreign_key_check").all()
    if problems:
        raise RuntimeError(f"references broken by the rebuild: {problems[:5]}")
    bind.exec_driver_sql("COMMIT")
    bind.exec_driver_sql("PRAGMA foreign_keys = ON")
    bind.exec_driver_sql("BEGIN IMMEDIATE")


def _move_keys_into_organisations(conn: sa.Connection) -> None:
    now = sa.func.now() if conn.dialect.name == "postgresql" else sa.func.current_timestamp()

    def make(kind: str, name: str, *, siret: str | None = None, region_code: str | None = None) -> int:
        return int(conn.execute(sa.insert(_ORG).values(kind=kind, name=name, siret=siret, region_code=region_code,
                                                       created_at=now).returning(_ORG.c.id)).scalar_one())

    administration = make("administration", ADMINISTRATION_NAME)
    cnsa = make("cnsa", CNSA_NAME)
    ars = {code: make("ars", f"ARS {name}", region_code=code) for code, name in REGIONS.items()}
    porteurs: dict[str, int] = {}
    for siret, name in conn.execute(sa.select(_REQUEST.c.siret, _REQUEST.c.porteur_name).order_by(_REQUEST.c.id)):
        if siret not in porteurs:
            porteurs[siret] = make("porteur", name, siret=siret)

    for key in conn.execute(sa.select(_KEY).order_by(_KEY.c.id)).all():
        if key.role == "admin":
            organisation = administration
        elif key.role == "cnsa_auditor":
            organisation = cnsa
        elif key.role == "ars_reviewer":
            organisation = ars[key.region_code]
        elif key.role == "porteur":
            if key.siret not in porteurs:
                porteurs[key.siret] = make("porteur", f"Porteur {key.siret}", siret=key.siret)
            organisation = porteurs[key.siret]
        else:
            organisation = make("editeur", key.label or f"Éditeur (clé {key.prefix})")
            refs = sorted(set(key.galis_refs or ()))
            if refs:
                conn.execute(sa.insert(_MANDATE), [{"id": str(uuid.uuid4()), "galis_ref": ref,
                                                    "editeur_id": organisation, "granted_at": key.created_at}
                                                   for ref in refs])
        conn.execute(sa.update(_KEY).where(_KEY.c.id == key.id)
                     .values(organisation_id=organisation, manager=key.role == "admin"))


def downgrade() -> None:
    with _rebuilt_under_references():
        _downgrade()


def _downgrade() -> None:
    with op.batch_alter_table('console_session', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_console_session_person_id_person'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_console_session_person_id'))
        batch_op.drop_column('id_token')
        batch_op.drop_column('person_id')
    op.execute("DELETE FROM console_session WHERE key_id IS NULL")
    with op.batch_alter_table('console_session', schema=None) as batch_op:
        batch_op.alter_column('key_id', existing_type=sa.Integer(), nullable=False)
    op.drop_column('audit_event', 'actor_organisation_id')
    op.drop_column('audit_event', 'actor_person_id')
    for table, verb in reversed(ACTOR_COLUMNS):
        if op.get_bind().dialect.name == "postgresql":
            op.drop_constraint(op.f(f'fk_{table}_{verb}_by_person_id_person'), table, type_='foreignkey')
            op.drop_column(table, f'{verb}_by_person_id')
            continue
        # SQLite drops a column with a REFERENCES by rebuilding its table: its indexes are written again
        # as they were (the rebuild would lose their DESC and WHERE)
        indexes = op.get_bind().execute(sa.text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND "
                                                "tbl_name = :t AND sql IS NOT NULL"), {"t": table}).all()
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column(f'{verb}_by_person_id')
        for name, sql in indexes:
            op.execute(f'DROP INDEX IF EXISTS {name}')
            op.execute(sql)
    with op.batch_alter_table('api_key', schema=None) as batch_op:
        batch_op.add_column(sa.Column('galis_refs', sa.JSON(), nullable=True))
    conn = op.get_bind()
    for key_id, organisation in conn.execute(sa.select(_KEY.c.id, _KEY.c.organisation_id)
                                             .where(_KEY.c.role == "vendor")).all():
        refs = sorted(conn.execute(sa.text("SELECT galis_ref FROM mandate WHERE editeur_id = :o AND revoked_at IS "
                                           "NULL"), {"o": organisation}).scalars())
        conn.execute(sa.update(_KEY).where(_KEY.c.id == key_id).values(galis_refs=refs))
    conn.execute(sa.update(_KEY).where(_KEY.c.galis_refs.is_(None)).values(galis_refs=[]))
    with op.batch_alter_table('api_key', schema=None) as batch_op:
        batch_op.alter_column('galis_refs', existing_type=sa.JSON(), nullable=False)
        batch_op.drop_constraint(batch_op.f('fk_api_key_organisation_id_organisation'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_api_key_organisation_id'))
        batch_op.drop_column('manager')
        batch_op.drop_column('organisation_id')

    op.drop_index('ix_mandate_editeur_ref', table_name='mandate')
    op.drop_index(op.f('ix_mandate_galis_ref'), table_name='mandate')
    op.drop_table('mandate')
    op.drop_index(op.f('ix_person_organisation_id'), table_name='person')
    op.drop_table('person')
    op.drop_table('organisation')
