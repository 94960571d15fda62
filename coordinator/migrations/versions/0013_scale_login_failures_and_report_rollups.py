"""scale: failed logins in the database (replicas share one rate limit) and report rollups

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 15:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the failed-attempts table of the login and enrollment limits, and the report
    rollups, filled from the events already stored."""
    op.create_table(
        "login_failures",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("scope", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_login_failures")),
    )
    op.create_index(
        op.f("ix_login_failures_scope_key_at_ms"), "login_failures", ["scope", "key", "at_ms"]
    )
    op.create_index(op.f("ix_login_failures_scope_at_ms"), "login_failures", ["scope", "at_ms"])
    op.create_table(
        "report_rollups",
        sa.Column("store_id", sa.String(length=64), nullable=False),
        sa.Column("hour", sa.BigInteger(), nullable=False),
        sa.Column("metric", sa.String(length=24), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("store_id", "hour", "metric", name=op.f("pk_report_rollups")),
    )
    op.create_index(op.f("ix_report_rollups_hour_store_id"), "report_rollups", ["hour", "store_id"])
    # The rollups of the events stored so far (the same function the writers use).
    from coordinator.reports.rollups import rebuild

    rebuild(op.get_bind())


def downgrade() -> None:
    """Drop the report rollups and the failed-attempts table."""
    op.drop_index(op.f("ix_report_rollups_hour_store_id"), table_name="report_rollups")
    op.drop_table("report_rollups")
    op.drop_index(op.f("ix_login_failures_scope_at_ms"), table_name="login_failures")
    op.drop_index(op.f("ix_login_failures_scope_key_at_ms"), table_name="login_failures")
    op.drop_table("login_failures")
