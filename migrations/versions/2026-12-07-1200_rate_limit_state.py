"""Rate limits: the buckets every worker counts in (class and caller, theoretical arrival time).
``UNLOGGED`` on PostgreSQL: not written to the WAL nor replicated, emptied by a crash, which only
gives every caller its full quota back. SQLite counts in the memory of its one process; the
table is made there too, so that both schemas are the same.

Revision ID: d5f7b9c1e324
Revises: c4e6a8b0d213
Create Date: 2026-12-07 12:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'd5f7b9c1e324'
down_revision: str | None = 'c4e6a8b0d213'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    unlogged = ["UNLOGGED"] if op.get_bind().dialect.name == "postgresql" else []
    op.create_table('rate_limit_state',
                    sa.Column('bucket', sa.String(length=200), nullable=False),
                    sa.Column('tat', sa.Float(), nullable=False),
                    sa.PrimaryKeyConstraint('bucket'),
                    prefixes=unlogged)


def downgrade() -> None:
    op.drop_table('rate_limit_state')
