"""Target sets as data: the two sets the service started with, stored; an administrator adds or
replaces sets (a set is immutable once a version used it).

Revision ID: 5e2b7c9d1f04
Revises: 90a913899f66
Create Date: 2026-12-02 04:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision: str = '5e2b7c9d1f04'
down_revision: str | None = '90a913899f66'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: As service.domain.targets.INITIAL_SETS was when targets became data (copied: a migration
#: does not change with the code).
_INITIAL = [
    {"id": "instruction-2024-15", "label": "Instruction DNS/DGCS/CNSA/2024/15 du 1er février 2024",
     "campaign_year": None, "category": None, "active_files": 90.0, "personal_plan": 90.0, "agenda": 90.0,
     "mssante": 70.0, "dmp": 70.0, "binding": True},
    {"id": "amorcage-2021", "label": "Phase d'amorçage 2021 : solde non conditionné à l'atteinte des cibles",
     "campaign_year": 2021, "category": None, "active_files": 90.0, "personal_plan": 90.0, "agenda": 90.0,
     "mssante": 70.0, "dmp": 70.0, "binding": False},
]


def upgrade() -> None:
    table = op.create_table('target_set',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('label', sa.String(length=300), nullable=False),
    sa.Column('campaign_year', sa.Integer(), nullable=True),
    sa.Column('category', sa.String(length=3), nullable=True),
    sa.Column('active_files', sa.Float(), nullable=False),
    sa.Column('personal_plan', sa.Float(), nullable=False),
    sa.Column('agenda', sa.Float(), nullable=False),
    sa.Column('mssante', sa.Float(), nullable=False),
    sa.Column('dmp', sa.Float(), nullable=False),
    sa.Column('binding', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_target_set'))
    )
    now = datetime.now(UTC)
    op.bulk_insert(table, [{**row, "created_at": now, "updated_at": now} for row in _INITIAL])


def downgrade() -> None:
    op.drop_table('target_set')
