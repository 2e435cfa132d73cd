"""People are told: preferences per category, notifications held for a daily digest, one digest
per person and working day, the message thread of each request, the reminders of proof requests
and fin de projet.

Revision ID: f7b9d1e3a546
Revises: e6a8c0d2f435
Create Date: 2026-12-07 19:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

import sqlalchemy as sa
from alembic import op

revision: str = 'f7b9d1e3a546'
down_revision: str | None = 'e6a8c0d2f435'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # First, while no table refers to mail_message (SQLite copies it to add a foreign key).
    with op.batch_alter_table('mail_message') as batch:
        batch.add_column(sa.Column('person_id', sa.Integer(), nullable=True))
        batch.create_foreign_key(op.f('fk_mail_message_person_id_person'), 'person', ['person_id'], ['id'])
    op.create_index('ix_mail_message_created', 'mail_message', ['created_at', 'id'])
    op.create_table('notification_preference',
                    sa.Column('person_id', sa.Integer(), nullable=False),
                    sa.Column('category', sa.String(length=40), nullable=False),
                    sa.Column('mode', sa.String(length=10), nullable=False),
                    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
                    sa.ForeignKeyConstraint(['person_id'], ['person.id'],
                                            name=op.f('fk_notification_preference_person_id_person')),
                    sa.PrimaryKeyConstraint('person_id', 'category', name=op.f('pk_notification_preference')))
    op.create_table('mail_digest',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('person_id', sa.Integer(), nullable=False),
                    sa.Column('day', sa.Date(), nullable=False),
                    sa.Column('mail_id', sa.String(length=36), nullable=True),
                    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
                    sa.ForeignKeyConstraint(['mail_id'], ['mail_message.id'],
                                            name=op.f('fk_mail_digest_mail_id_mail_message')),
                    sa.ForeignKeyConstraint(['person_id'], ['person.id'],
                                            name=op.f('fk_mail_digest_person_id_person')),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_mail_digest')),
                    sa.UniqueConstraint('person_id', 'day', name=op.f('uq_mail_digest_person_id_day')))
    op.create_table('held_notification',
                    sa.Column('id', sa.Integer(), nullable=False),
                    sa.Column('person_id', sa.Integer(), nullable=False),
                    sa.Column('category', sa.String(length=40), nullable=False),
                    sa.Column('request_id', sa.Integer(), nullable=True),
                    sa.Column('subject', sa.String(length=300), nullable=False),
                    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
                    sa.Column('digest_id', sa.Integer(), nullable=True),
                    sa.ForeignKeyConstraint(['digest_id'], ['mail_digest.id'],
                                            name=op.f('fk_held_notification_digest_id_mail_digest')),
                    sa.ForeignKeyConstraint(['person_id'], ['person.id'],
                                            name=op.f('fk_held_notification_person_id_person')),
                    sa.ForeignKeyConstraint(['request_id'], ['funding_request.id'],
                                            name=op.f('fk_held_notification_request_id_funding_request')),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_held_notification')))
    op.create_index('ix_held_notification_person', 'held_notification', ['person_id', 'digest_id'])
    op.create_table('request_message',
                    sa.Column('id', sa.String(length=36), nullable=False),
                    sa.Column('request_id', sa.Integer(), nullable=False),
                    sa.Column('kind', sa.String(length=12), nullable=False),
                    sa.Column('subject', sa.String(length=300), nullable=True),
                    sa.Column('body', sa.Text(), nullable=False),
                    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
                    sa.Column('author_key_id', sa.Integer(), nullable=True),
                    sa.Column('author_person_id', sa.Integer(), nullable=True),
                    sa.Column('author_kind', sa.String(length=20), nullable=True),
                    sa.Column('mail_id', sa.String(length=36), nullable=True),
                    sa.ForeignKeyConstraint(['author_key_id'], ['api_key.id'],
                                            name=op.f('fk_request_message_author_key_id_api_key')),
                    sa.ForeignKeyConstraint(['author_person_id'], ['person.id'],
                                            name=op.f('fk_request_message_author_person_id_person')),
                    sa.ForeignKeyConstraint(['mail_id'], ['mail_message.id'],
                                            name=op.f('fk_request_message_mail_id_mail_message')),
                    sa.ForeignKeyConstraint(['request_id'], ['funding_request.id'],
                                            name=op.f('fk_request_message_request_id_funding_request')),
                    sa.PrimaryKeyConstraint('id', name=op.f('pk_request_message')))
    op.create_index('ix_request_message_thread', 'request_message', ['request_id', 'created_at', 'id'])
    # Plain ADD COLUMN (SQLite too): a batch would copy funding_request, which other tables reference.
    op.add_column('proof_request', sa.Column('reminded_at', sa.DateTime(timezone=True), nullable=True))
    op.create_table('service_secret',
                    sa.Column('name', sa.String(length=40), nullable=False),
                    sa.Column('value', sa.String(length=200), nullable=False),
                    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
                    sa.PrimaryKeyConstraint('name', name=op.f('pk_service_secret')))
    op.add_column('funding_request', sa.Column('fin_projet_reminders_sent', sa.String(length=20), server_default='',
                                               nullable=False))
    op.add_column('funding_request', sa.Column('fin_projet_overdue_told_on', sa.Date(), nullable=True))
    op.add_column('funding_request', sa.Column('fin_projet_next_reminder_on', sa.Date(), nullable=True))
    op.create_index('ix_funding_request_fin_projet_next_reminder_on', 'funding_request',
                    ['fin_projet_next_reminder_on'])
    # The fin de projet windows already open: reminded from now on; those already past due are
    # not told overdue at the first pass (their porteurs and ARS know, and a burst of mails about
    # deadlines gone by months ago would drown the ones that matter).
    conn = op.get_bind()
    today = date.today()
    for row in conn.execute(sa.text("SELECT id, fin_projet_due_on FROM funding_request WHERE fin_projet_due_on IS "
                                    "NOT NULL AND closed_on IS NULL")).all():
        due = row.fin_projet_due_on if isinstance(row.fin_projet_due_on, date) else \
            date.fromisoformat(str(row.fin_projet_due_on))
        if due < today:
            conn.execute(sa.text("UPDATE funding_request SET fin_projet_overdue_told_on = :due WHERE id = :id"),
                         {"due": due, "id": row.id})
        else:
            conn.execute(sa.text("UPDATE funding_request SET fin_projet_next_reminder_on = :on WHERE id = :id"),
                         {"on": due - timedelta(days=30), "id": row.id})
    op.add_column('submission', sa.Column('review_told', sa.Boolean(), server_default=sa.false(), nullable=False))
    # the versions already waiting are in the ARS's queue: nobody is told of them again
    op.execute(sa.text("UPDATE submission SET review_told = true WHERE awaiting_review"))


def downgrade() -> None:
    op.drop_index('ix_funding_request_fin_projet_next_reminder_on', table_name='funding_request')
    op.drop_column('funding_request', 'fin_projet_next_reminder_on')
    op.drop_column('funding_request', 'fin_projet_overdue_told_on')  # ALTER TABLE DROP COLUMN (SQLite ≥ 3.35)
    op.drop_column('funding_request', 'fin_projet_reminders_sent')
    op.drop_column('proof_request', 'reminded_at')
    op.drop_column('submission', 'review_told')
    op.drop_index('ix_request_message_thread', table_name='request_message')
    op.drop_table('request_message')
    op.drop_index('ix_held_notification_person', table_name='held_notification')
    op.drop_table('held_notification')
    op.drop_table('mail_digest')
    op.drop_table('notification_preference')
    op.drop_table('service_secret')
    with op.batch_alter_table('mail_message') as batch:  # its foreign key goes with it (nothing refers to it now)
        batch.drop_column('person_id')
    op.drop_index('ix_mail_message_created', table_name='mail_message')
