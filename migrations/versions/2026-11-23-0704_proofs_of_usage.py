"""Proofs of usage: one row per uploaded proof, its bytes in the proof store.

Revision ID: 882b1820a126
Revises: 476e6e561c86
Create Date: 2026-11-23 07:04:35.852308
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '882b1820a126'
down_revision: str | None = '476e6e561c86'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('proof',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('submission_id', sa.String(length=36), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('milestone', sa.String(length=12), nullable=False),
    sa.Column('finess', sa.String(length=9), nullable=False),
    sa.Column('evidence_key', sa.String(length=64), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('media_type', sa.String(length=40), nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=True),
    sa.Column('measured_on', sa.Date(), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=False),
    sa.Column('signed_by', sa.String(length=200), nullable=False),
    sa.Column('uploaded_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('uploaded_by_key_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['request_id'], ['funding_request.id'], name=op.f('fk_proof_request_id_funding_request')),
    sa.ForeignKeyConstraint(['submission_id'], ['submission.id'], name=op.f('fk_proof_submission_id_submission')),
    sa.ForeignKeyConstraint(['uploaded_by_key_id'], ['api_key.id'], name=op.f('fk_proof_uploaded_by_key_id_api_key')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_proof'))
    )
    with op.batch_alter_table('proof', schema=None) as batch_op:
        batch_op.create_index('ix_proof_request_id_milestone_finess', ['request_id', 'milestone', 'finess'], unique=False)
        batch_op.create_index(batch_op.f('ix_proof_sha256'), ['sha256'], unique=False)
        batch_op.create_index(batch_op.f('ix_proof_submission_id'), ['submission_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('proof', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_proof_submission_id'))
        batch_op.drop_index(batch_op.f('ix_proof_sha256'))
        batch_op.drop_index('ix_proof_request_id_milestone_finess')

    op.drop_table('proof')
