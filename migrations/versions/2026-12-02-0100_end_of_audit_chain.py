"""The audit chain ends where the verifiable log takes over: writers stop locking its head.

Events already stored keep their chain (``audit_head`` keeps its end, which nothing moves any
more; ``audit verify`` walks the chain up to it). Events written from now on carry no
``prev_hash`` and are linked by the log's Merkle tree. On PostgreSQL their numbers come from a
sequence starting after the chain's end, owned by the column (so a ``TRUNCATE … RESTART
IDENTITY`` resets it too).

Revision ID: 9b4f0c6e2a17
Revises: 7d2e4a91c3b8
Create Date: 2026-12-02 01:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '9b4f0c6e2a17'
down_revision: str | None = '7d2e4a91c3b8'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=True)
    if op.get_bind().dialect.name == 'postgresql':
        start = op.get_bind().execute(sa.text(
            "SELECT GREATEST((SELECT seq FROM audit_head WHERE id = 1), "
            "(SELECT COALESCE(MAX(seq), 0) FROM audit_event)) + 1")).scalar_one()
        op.execute(f"CREATE SEQUENCE audit_event_seq START WITH {int(start)} OWNED BY audit_event.seq")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP SEQUENCE audit_event_seq")
    # Events written after the chain's end have no predecessor to name: the column can only
    # become required again once they are gone.
    with op.batch_alter_table('audit_event', schema=None) as batch_op:
        batch_op.alter_column('prev_hash', existing_type=sa.String(length=64), nullable=False)
