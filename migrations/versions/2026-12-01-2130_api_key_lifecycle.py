"""API key lifecycle: expiry date, revocation time, last use, and a unique printed prefix
(the name by which a key is revoked).

Revision ID: 5c1f7e9b2d40
Revises: a5ed20b77bcf
Create Date: 2026-12-01 21:30:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op


revision: str = '5c1f7e9b2d40'
down_revision: str | None = 'a5ed20b77bcf'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('api_key', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_on', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.create_unique_constraint(batch_op.f('uq_api_key_prefix'), ['prefix'])


def downgrade() -> None:
    with op.batch_alter_table('api_key', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('uq_api_key_prefix'), type_='unique')
        batch_op.drop_column('last_used_at')
        batch_op.drop_column('revoked_at')
        batch_op.drop_column('expires_on')
