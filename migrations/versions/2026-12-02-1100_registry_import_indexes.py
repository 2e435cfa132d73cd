"""The FINESS registry drops two indexes no query uses: one on the région (nothing reads the
registry by région) and one on the last snapshot that saw an establishment (the import finds the
missing ones with ``<>``, which reads the whole table anyway). Both were rewritten for every row
of every import.

Revision ID: a1c3e5f7b902
Revises: 9b4c6e8d0a31
Create Date: 2026-12-02 11:00:00.000000
"""
from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = 'a1c3e5f7b902'
down_revision: str | None = '9b4c6e8d0a31'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index('ix_registry_establishment_last_seen_snapshot_id', table_name='registry_establishment')
    op.drop_index('ix_registry_establishment_region_code', table_name='registry_establishment')


def downgrade() -> None:
    op.create_index('ix_registry_establishment_region_code', 'registry_establishment', ['region_code'],
                    unique=False)
    op.create_index('ix_registry_establishment_last_seen_snapshot_id', 'registry_establishment',
                    ['last_seen_snapshot_id'], unique=False)
