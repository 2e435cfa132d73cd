"""The FINESS registry: snapshots of the public extract and the establishments they know.

Revision ID: 90a913899f66
Revises: 3a8c5e1f7b92
Create Date: 2026-12-02 03:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '90a913899f66'
down_revision: str | None = '3a8c5e1f7b92'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('finess_snapshot',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('extract_version', sa.Integer(), nullable=False),
    sa.Column('extracted_on', sa.Date(), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=True),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('encoding', sa.String(length=20), nullable=False),
    sa.Column('establishments', sa.Integer(), nullable=False),
    sa.Column('added', sa.Integer(), nullable=False),
    sa.Column('closed', sa.Integer(), nullable=False),
    sa.Column('reopened', sa.Integer(), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('imported_by_key_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['imported_by_key_id'], ['api_key.id'], name=op.f('fk_finess_snapshot_imported_by_key_id_api_key')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_finess_snapshot')),
    sa.UniqueConstraint('sha256', name=op.f('uq_finess_snapshot_sha256'))
    )
    with op.batch_alter_table('finess_snapshot', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_finess_snapshot_extracted_on'), ['extracted_on'], unique=False)

    op.create_table('registry_establishment',
    sa.Column('finess', sa.String(length=9), nullable=False),
    sa.Column('finess_ej', sa.String(length=9), nullable=True),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('long_name', sa.String(length=300), nullable=True),
    sa.Column('department', sa.String(length=2), nullable=False),
    sa.Column('region_code', sa.String(length=2), nullable=True),
    sa.Column('category_code', sa.String(length=3), nullable=True),
    sa.Column('category_label', sa.String(length=200), nullable=True),
    sa.Column('siret', sa.String(length=14), nullable=True),
    sa.Column('opened_on', sa.Date(), nullable=True),
    sa.Column('updated_on', sa.Date(), nullable=True),
    sa.Column('first_snapshot_id', sa.Integer(), nullable=False),
    sa.Column('last_seen_snapshot_id', sa.Integer(), nullable=False),
    sa.Column('closed_on', sa.Date(), nullable=True),
    sa.Column('closed_snapshot_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['closed_snapshot_id'], ['finess_snapshot.id'], name=op.f('fk_registry_establishment_closed_snapshot_id_finess_snapshot')),
    sa.ForeignKeyConstraint(['first_snapshot_id'], ['finess_snapshot.id'], name=op.f('fk_registry_establishment_first_snapshot_id_finess_snapshot')),
    sa.ForeignKeyConstraint(['last_seen_snapshot_id'], ['finess_snapshot.id'], name=op.f('fk_registry_establishment_last_seen_snapshot_id_finess_snapshot')),
    sa.PrimaryKeyConstraint('finess', name=op.f('pk_registry_establishment'))
    )
    with op.batch_alter_table('registry_establishment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_registry_establishment_last_seen_snapshot_id'), ['last_seen_snapshot_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_registry_establishment_region_code'), ['region_code'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('registry_establishment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_registry_establishment_region_code'))
        batch_op.drop_index(batch_op.f('ix_registry_establishment_last_seen_snapshot_id'))

    op.drop_table('registry_establishment')
    with op.batch_alter_table('finess_snapshot', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_finess_snapshot_extracted_on'))

    op.drop_table('finess_snapshot')
