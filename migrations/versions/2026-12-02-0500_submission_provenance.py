"""Where a version's figures come from: the software that produced them and when they were
extracted, as the push says (optional; null for the versions stored before).

Revision ID: 8c3d1e5f7a26
Revises: 5e2b7c9d1f04
Create Date: 2026-12-02 05:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '8c3d1e5f7a26'
down_revision: str | None = '5e2b7c9d1f04'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('submission', schema=None) as batch_op:
        batch_op.add_column(sa.Column('software_name', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('software_version', sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column('extracted_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('submission', schema=None) as batch_op:
        batch_op.drop_column('extracted_at')
        batch_op.drop_column('software_version')
        batch_op.drop_column('software_name')
