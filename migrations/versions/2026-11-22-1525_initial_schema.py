"""Initial schema: API keys, funding requests, establishments, lifecycle events, versions.

Revision ID: 476e6e561c86
Revises: 
Create Date: 2026-11-22 15:25:27.337211
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '476e6e561c86'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table('api_key',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('region_code', sa.String(length=2), nullable=True),
    sa.Column('siret', sa.String(length=14), nullable=True),
    sa.Column('galis_refs', sa.JSON(), nullable=False),
    sa.Column('label', sa.String(length=200), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_key')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_key_key_hash'))
    )
    op.create_table('funding_request',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('galis_ref', sa.String(length=8), nullable=False),
    sa.Column('siret', sa.String(length=14), nullable=False),
    sa.Column('porteur_name', sa.String(length=300), nullable=False),
    sa.Column('campaign_year', sa.Integer(), nullable=False),
    sa.Column('region_code', sa.String(length=2), nullable=False),
    sa.Column('va_opened_on', sa.Date(), nullable=True),
    sa.Column('fin_projet_opened_on', sa.Date(), nullable=True),
    sa.Column('fin_projet_due_on', sa.Date(), nullable=True),
    sa.Column('closed_on', sa.Date(), nullable=True),
    sa.Column('va_last_version', sa.Integer(), server_default='0', nullable=False),
    sa.Column('fin_projet_last_version', sa.Integer(), server_default='0', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('created_by_key_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_key_id'], ['api_key.id'], name=op.f('fk_funding_request_created_by_key_id_api_key')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_funding_request')),
    sa.UniqueConstraint('galis_ref', name=op.f('uq_funding_request_galis_ref'))
    )
    with op.batch_alter_table('funding_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_funding_request_region_code'), ['region_code'], unique=False)
        batch_op.create_index(batch_op.f('ix_funding_request_siret'), ['siret'], unique=False)

    op.create_table('establishment',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('finess', sa.String(length=9), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('category', sa.String(length=3), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['funding_request.id'], name=op.f('fk_establishment_request_id_funding_request')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_establishment')),
    sa.UniqueConstraint('finess', name=op.f('uq_establishment_finess'))
    )
    with op.batch_alter_table('establishment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_establishment_request_id'), ['request_id'], unique=False)

    op.create_table('lifecycle_event',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=30), nullable=False),
    sa.Column('event_on', sa.Date(), nullable=False),
    sa.Column('until', sa.Date(), nullable=True),
    sa.Column('recorded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('recorded_by_key_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['recorded_by_key_id'], ['api_key.id'], name=op.f('fk_lifecycle_event_recorded_by_key_id_api_key')),
    sa.ForeignKeyConstraint(['request_id'], ['funding_request.id'], name=op.f('fk_lifecycle_event_request_id_funding_request')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_lifecycle_event'))
    )
    with op.batch_alter_table('lifecycle_event', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lifecycle_event_request_id'), ['request_id'], unique=False)

    op.create_table('submission',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('milestone', sa.String(length=12), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('received_by_key_id', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('fingerprint', sa.String(length=64), nullable=False),
    sa.Column('row_count', sa.Integer(), nullable=False),
    sa.Column('targets_met', sa.Boolean(), nullable=False),
    sa.Column('warnings', sa.JSON(), nullable=False),
    sa.ForeignKeyConstraint(['received_by_key_id'], ['api_key.id'], name=op.f('fk_submission_received_by_key_id_api_key')),
    sa.ForeignKeyConstraint(['request_id'], ['funding_request.id'], name=op.f('fk_submission_request_id_funding_request')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_submission')),
    sa.UniqueConstraint('request_id', 'milestone', 'version', name=op.f('uq_submission_request_id_milestone_version'))
    )
    op.create_table('idempotency_record',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('api_key_id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=255), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('submission_id', sa.String(length=36), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['api_key_id'], ['api_key.id'], name=op.f('fk_idempotency_record_api_key_id_api_key')),
    sa.ForeignKeyConstraint(['submission_id'], ['submission.id'], name=op.f('fk_idempotency_record_submission_id_submission')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_idempotency_record')),
    sa.UniqueConstraint('api_key_id', 'key', name=op.f('uq_idempotency_record_api_key_id_key'))
    )
    op.create_table('submission_row',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('submission_id', sa.String(length=36), nullable=False),
    sa.Column('row_number', sa.Integer(), nullable=False),
    sa.Column('finess', sa.String(length=9), nullable=False),
    sa.Column('raison_sociale', sa.String(length=300), nullable=True),
    sa.Column('dmp_fed', sa.Integer(), nullable=False),
    sa.Column('mss_messages_sent', sa.Integer(), nullable=False),
    sa.Column('active_dui', sa.Integer(), nullable=False),
    sa.Column('persons_accompanied', sa.Integer(), nullable=False),
    sa.Column('dui_with_personal_plan', sa.Integer(), nullable=False),
    sa.Column('dui_with_agenda_event', sa.Integer(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('target_set_id', sa.String(length=40), nullable=False),
    sa.ForeignKeyConstraint(['submission_id'], ['submission.id'], name=op.f('fk_submission_row_submission_id_submission')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_submission_row')),
    sa.UniqueConstraint('submission_id', 'finess', name=op.f('uq_submission_row_submission_id_finess'))
    )



def downgrade() -> None:

    op.drop_table('submission_row')
    op.drop_table('idempotency_record')
    op.drop_table('submission')
    with op.batch_alter_table('lifecycle_event', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lifecycle_event_request_id'))

    op.drop_table('lifecycle_event')
    with op.batch_alter_table('establishment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_establishment_request_id'))

    op.drop_table('establishment')
    with op.batch_alter_table('funding_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_funding_request_siret'))
        batch_op.drop_index(batch_op.f('ix_funding_request_region_code'))

    op.drop_table('funding_request')
    op.drop_table('api_key')

