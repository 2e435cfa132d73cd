"""The peer statistics' maintained aggregate: each establishment's rates in the latest version of
each milestone, one narrow row per establishment, kept by the push; filled in from the latest
versions stored, evaluated by the domain's own arithmetic (the table is derived from it).

Revision ID: 9b4c6e8d0a31
Revises: 8a3b5d7f9c20
Create Date: 2026-12-02 10:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = '9b4c6e8d0a31'
down_revision: str | None = '8a3b5d7f9c20'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDICATORS = ('active_files', 'personal_plan', 'agenda', 'mssante', 'dmp')
COUNTS = ('dmp_fed', 'mss_messages_sent', 'active_dui', 'persons_accompanied', 'dui_with_personal_plan',
          'dui_with_agenda_event')
BATCH = 5_000


def upgrade() -> None:
    columns = [
        sa.Column('request_id', sa.Integer(), nullable=False),
        sa.Column('milestone', sa.String(length=12), nullable=False),
        sa.Column('finess', sa.String(length=9), nullable=False),
        sa.Column('submission_id', sa.String(length=36), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('region_code', sa.String(length=2), nullable=False),
        sa.Column('category', sa.String(length=3), nullable=True),
    ]
    for key in INDICATORS:
        columns += [sa.Column(f'{key}_rate', sa.Float(), nullable=True), sa.Column(f'{key}_met', sa.Boolean(),
                                                                                   nullable=True)]
    table = op.create_table(
        'latest_rate', *columns,
        sa.ForeignKeyConstraint(['request_id'], ['funding_request.id']),
        sa.ForeignKeyConstraint(['submission_id'], ['submission.id']),
        sa.PrimaryKeyConstraint('request_id', 'milestone', 'finess'),
    )
    op.create_index('ix_latest_rate_peers', 'latest_rate', ['milestone', 'category'], unique=False)
    _fill(op.get_bind(), table)


def _fill(conn: sa.Connection, table: sa.Table) -> None:
    from service.domain import indicators  # the arithmetic the service evaluates rows with
    from service.domain.targets import TargetSet

    sets = {r.id: TargetSet(id=r.id, label=r.label, active_files=r.active_files, personal_plan=r.personal_plan,
                            agenda=r.agenda, mssante=r.mssante, dmp=r.dmp, binding=bool(r.binding))
            for r in conn.execute(sa.text('SELECT * FROM target_set'))}
    rows = conn.execute(sa.text(
        'SELECT s.request_id, s.milestone, r.finess, s.id AS submission_id, s.version, q.region_code, e.category, '
        f'r.target_set_id, {", ".join("r." + c for c in COUNTS)} '
        'FROM submission s JOIN submission_row r ON r.submission_id = s.id '
        'JOIN funding_request q ON q.id = s.request_id '
        'LEFT JOIN establishment e ON e.finess = r.finess AND e.request_id = s.request_id '
        'WHERE s.is_latest')).mappings()
    batch: list[dict[str, Any]] = []
    for r in rows:
        evaluation = indicators.evaluate({c: r[c] for c in COUNTS}, sets[r['target_set_id']])
        values = {k: r[k] for k in ('request_id', 'milestone', 'finess', 'submission_id', 'version', 'region_code',
                                    'category')}
        for key in INDICATORS:
            values[f'{key}_rate'], values[f'{key}_met'] = evaluation[key].rate, evaluation[key].met
        batch.append(values)
        if len(batch) == BATCH:
            op.bulk_insert(table, batch)
            batch = []
    if batch:
        op.bulk_insert(table, batch)


def downgrade() -> None:
    op.drop_index('ix_latest_rate_peers', table_name='latest_rate')
    op.drop_table('latest_rate')
