"""The latest version of each milestone, and those of them awaiting an ARS decision, marked and
indexed (filled in from what is stored): the review queue reads its page off a partial index in
reception order, the statistics their rows off another, at national volume.

Revision ID: 8a3b5d7f9c20
Revises: 7f2a4c6e8b19
Create Date: 2026-12-02 09:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '8a3b5d7f9c20'
down_revision: str | None = '7f2a4c6e8b19'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('submission', schema=None) as batch_op:
        batch_op.add_column(sa.Column('awaiting_review', sa.Boolean(), server_default=sa.false(), nullable=False))
        batch_op.add_column(sa.Column('is_latest', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.execute(
        "UPDATE submission SET is_latest = true WHERE EXISTS "
        "(SELECT 1 FROM funding_request r WHERE r.id = submission.request_id AND submission.version = "
        "CASE submission.milestone WHEN 'va' THEN r.va_last_version ELSE r.fin_projet_last_version END)")
    op.execute("UPDATE submission SET awaiting_review = true WHERE is_latest AND NOT EXISTS "
               "(SELECT 1 FROM review WHERE review.submission_id = submission.id)")
    with op.batch_alter_table('submission', schema=None) as batch_op:
        batch_op.create_index('ix_submission_awaiting_review', ['received_at', 'id'], unique=False,
                              postgresql_where=sa.text('awaiting_review'), sqlite_where=sa.text('awaiting_review'))
        batch_op.create_index('ix_submission_latest', ['milestone', 'request_id'], unique=False,
                              postgresql_where=sa.text('is_latest'), sqlite_where=sa.text('is_latest'))


def downgrade() -> None:
    with op.batch_alter_table('submission', schema=None) as batch_op:
        batch_op.drop_index('ix_submission_latest', postgresql_where=sa.text('is_latest'),
                            sqlite_where=sa.text('is_latest'))
        batch_op.drop_index('ix_submission_awaiting_review', postgresql_where=sa.text('awaiting_review'),
                            sqlite_where=sa.text('awaiting_review'))
        batch_op.drop_column('is_latest')
        batch_op.drop_column('awaiting_review')
