"""The verifiable log: each audit event's index in the Merkle tree, the tree's perfect subtrees,
the signed checkpoints (with their RFC 3161 time-stamp replies) and the log's size (one row, the sequencer's). Existing events are
sequenced by the first run of the sequencer, in their chain order.

Revision ID: 7d2e4a91c3b8
Revises: 5c1f7e9b2d40
Create Date: 2026-12-01 22:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '7d2e4a91c3b8'
down_revision: str | None = '5c1f7e9b2d40'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.add_column(sa.Column('log_index', sa.BigInteger(), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_audit_event_log_index'), ['log_index'])
    op.create_table('log_node',
    sa.Column('level', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('idx', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('hash', sa.LargeBinary(length=32), nullable=False),
    sa.PrimaryKeyConstraint('level', 'idx', name=op.f('pk_log_node'))
    )
    op.create_table('log_checkpoint',
    sa.Column('size', sa.BigInteger(), autoincrement=False, nullable=False),
    sa.Column('root_hash', sa.LargeBinary(length=32), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('key_id', sa.String(length=8), nullable=False),
    sa.Column('signed_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('timestamp_reply', sa.LargeBinary(), nullable=True),
    sa.Column('timestamped_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('size', name=op.f('pk_log_checkpoint'))
    )
    op.create_table('log_state',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('size', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_log_state'))
    )
    op.execute("INSERT INTO log_state (id, size) VALUES (1, 0)")


def downgrade() -> None:
    op.drop_table('log_state')
    op.drop_table('log_checkpoint')
    op.drop_table('log_node')
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_audit_event_log_index'), type_='unique')
        batch_op.drop_column('log_index')
