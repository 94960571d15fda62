"""reports: the rollups also sum the money facts (top-ups, spends, refunds, purchases)

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03 16:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

MONEY_METRICS = (
    "sv_topped_up_fen",
    "sv_bonus_fen",
    "sv_spent_fen",
    "sv_refunded_fen",
    "purchases",
    "purchase_total_fen",
)


def upgrade() -> None:
    """Recompute every rollup from the stored events (the same function the writers use), so
    money facts stored before this revision are summed too."""
    from coordinator.reports.rollups import rebuild

    rebuild(op.get_bind())


def downgrade() -> None:
    """Drop the money metrics (the older code neither writes nor reads them)."""
    rollups = sa.table("report_rollups", sa.column("metric", sa.String))
    op.execute(sa.delete(rollups).where(rollups.c.metric.in_(MONEY_METRICS)))
