"""Evidence bundles and chain of custody: a proof's SHA-512 (kept from now on at upload), an
index to find the reads of an object among the audit events, and each version's latest change
(received, reviewed, given a proof) for the auditors' incremental feed, filled in from what is
already stored.

Revision ID: 3a8c5e1f7b92
Revises: 9b4f0c6e2a17
Create Date: 2026-12-02 02:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '3a8c5e1f7b92'
down_revision: str | None = '9b4f0c6e2a17'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LATEST = {
    # GREATEST skips nulls on PostgreSQL; SQLite's scalar MAX returns null if one is: coalesced.
    'postgresql': "GREATEST(received_at, {review}, {proof})",
    'sqlite': "MAX(received_at, COALESCE({review}, received_at), COALESCE({proof}, received_at))",
}


def upgrade() -> None:
    with op.batch_alter_table('proof', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sha512', sa.String(length=128), nullable=True))
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.create_index('ix_audit_event_object', ['object_type', 'object_id'], unique=False)
    with op.batch_alter_table('submission', schema=None) as batch_op:
        batch_op.add_column(sa.Column('changed_at', sa.DateTime(timezone=True), nullable=True))
    latest = _LATEST[op.get_bind().dialect.name].format(
        review="(SELECT MAX(decided_at) FROM review WHERE review.submission_id = submission.id)",
        proof="(SELECT MAX(uploaded_at) FROM proof WHERE proof.submission_id = submission.id)")
    op.execute(f"UPDATE submission SET changed_at = {latest}")
    with op.batch_alter_table('submission', schema=None) as batch_op:
        batch_op.alter_column('changed_at', existing_type=sa.DateTime(timezone=True), nullable=False)
        batch_op.create_index('ix_submission_changed_at_id', ['changed_at', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('submission', schema=None) as batch_op:
        batch_op.drop_index('ix_submission_changed_at_id')
        batch_op.drop_column('changed_at')
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_index('ix_audit_event_object')
    with op.batch_alter_table('proof', schema=None) as batch_op:
        batch_op.drop_column('sha512')
