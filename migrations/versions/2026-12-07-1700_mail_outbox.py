"""The mail outbox: each mail queued in the transaction of the change, its parts written then,
sent by the active deliverer and retried under the same Message-ID.

Revision ID: e6a8c0d2f435
Revises: d5f7b9c1e324
Create Date: 2026-12-07 17:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'e6a8c0d2f435'
down_revision: str | None = 'd5f7b9c1e324'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('mail_message',
                    sa.Column('id', sa.String(length=36), nullable=False),
                    sa.Column('category', sa.String(length=40), nullable=False),
                    sa.Column('request_id', sa.Integer(), nullable=True),
                    sa.Column('recipients', sa.JSON(), nullable=False),
                    sa.Column('subject', sa.String(length=300), nullable=False),
                    sa.Column('text_body', sa.Text(), nullable=False),
                    sa.Column('html_body', sa.Text(), nullable=False),
                    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
                    sa.Column('status', sa.String(length=10), nullable=False),
                    sa.Column('attempts', sa.Integer(), nullable=False),
                    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
                    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
                    sa.Column('last_error', sa.String(length=500), nullable=True),
                    sa.ForeignKeyConstraint(['request_id'], ['funding_request.id'],
                                            name=op.f('fk_mail_message_request_id_funding_request')),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_message')))
    op.create_index('ix_mail_message_due', 'mail_message', ['status', 'next_attempt_at'])
    op.create_index('ix_mail_message_request', 'mail_message', ['request_id', 'created_at'])


def downgrade() -> None:
    op.drop_index('ix_mail_message_request', table_name='mail_message')
    op.drop_index('ix_mail_message_due', table_name='mail_message')
    op.drop_table('mail_message')
