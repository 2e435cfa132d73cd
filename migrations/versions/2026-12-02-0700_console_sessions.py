"""Console sessions: a person signed in with an API key, one row per session (the token's
SHA-256, the CSRF token of its forms, its use and its expiry).

Revision ID: 6e1f3a8c2d47
Revises: 4d7a2b9e6c13
Create Date: 2026-12-02 07:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '6e1f3a8c2d47'
down_revision: str | None = '4d7a2b9e6c13'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'console_session',
        sa.Column('token_hash', sa.String(length=64), nullable=False),
        sa.Column('key_id', sa.Integer(), nullable=False),
        sa.Column('csrf_token', sa.String(length=64), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['key_id'], ['api_key.id'], name=op.f('fk_console_session_key_id_api_key')),
        sa.PrimaryKeyConstraint('token_hash', name=op.f('pk_console_session')),
    )
    with op.batch_alter_table('console_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_console_session_key_id'), ['key_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('console_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_console_session_key_id'))
    op.drop_table('console_session')
