"""reports: store-day rollups (one wide row per store and local day) derived from the hours

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03 18:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

DAY_METRICS = (
    "checkins",
    "class_signins",
    "sessions_used",
    "points_earned",
    "points_redeemed",
    "points_facts",
    "sv_topped_up_fen",
    "sv_bonus_fen",
    "sv_spent_fen",
    "sv_refunded_fen",
    "purchases",
    "purchase_total_fen",
)
HOUR_OF_DAY = tuple(f"{m}_h{h:02d}" for m in ("checkins", "class_signins") for h in range(24))


def upgrade() -> None:
    """Create the store-day rollups and derive them from the hour rows already kept (the
    same function a store's registration uses; the hours equal the events, so the days do)."""
    op.create_table(
        "report_rollup_days",
        sa.Column("store_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        *(
            sa.Column(name, sa.BigInteger(), server_default="0", nullable=False)
            for name in DAY_METRICS + HOUR_OF_DAY
        ),
        sa.PrimaryKeyConstraint("store_id", "day", name=op.f("pk_report_rollup_days")),
    )
    op.create_index(op.f("ix_report_rollup_days_day"), "report_rollup_days", ["day"])
    from coordinator.reports.rollups import derive_days

    derive_days(op.get_bind())


def downgrade() -> None:
    """Drop the store-day rollups (the older code reads the hours)."""
    op.drop_index(op.f("ix_report_rollup_days_day"), table_name="report_rollup_days")
    op.drop_table("report_rollup_days")
