"""dashboard: kiosk facts, timeline, alerts, version marks, rollout targets; report index

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_BIGINT_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_REPORT_COLUMNS = ["kind", "hlc_ms", "store_id", "source", "member_id", "quarantined"]


def upgrade() -> None:
    """Apply this migration."""
    op.create_table(
        "kiosk_facts",
        sa.Column("kiosk_id", sa.String(length=64), nullable=False),
        sa.Column("facts", sa.Text(), nullable=False),
        sa.Column("change_no", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("kiosk_id", name=op.f("pk_kiosk_facts")),
    )
    op.create_table(
        "kiosk_timeline",
        sa.Column("id", _BIGINT_PK, autoincrement=True, nullable=False),
        sa.Column("kiosk_id", sa.String(length=64), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("fact", sa.String(length=40), nullable=False),
        sa.Column("value", sa.String(length=200), nullable=False),
        sa.Column("previous", sa.String(length=200), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kiosk_timeline")),
    )
    with op.batch_alter_table("kiosk_timeline", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_kiosk_timeline_kiosk_id_at_ms"), ["kiosk_id", "at_ms"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_kiosk_timeline_at_ms"), ["at_ms"], unique=False)
    op.create_table(
        "fleet_alerts",
        sa.Column("kiosk_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("raised_ms", sa.BigInteger(), nullable=False),
        sa.Column("cleared_ms", sa.BigInteger(), nullable=True),
        sa.Column("ok_since_ms", sa.BigInteger(), nullable=True),
        sa.Column("raised_count", sa.Integer(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("change_no", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("kiosk_id", "kind", name=op.f("pk_fleet_alerts")),
    )
    with op.batch_alter_table("fleet_alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fleet_alerts_active"), ["active"], unique=False)
    op.create_table(
        "version_marks",
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("version", sa.BigInteger(), nullable=False),
        sa.Column("first_seen_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", "version", name=op.f("pk_version_marks")),
    )
    op.create_table(
        "rollout_targets",
        sa.Column("campaign_id", sa.String(length=64), nullable=False),
        sa.Column("members_version", sa.BigInteger(), nullable=False),
        sa.Column("member_count", sa.Integer(), nullable=False),
        sa.Column("resolved_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("campaign_id", name=op.f("pk_rollout_targets")),
    )
    # A plain CREATE INDEX (no batch): the events table may already hold millions of rows.
    op.create_index("ix_events_kind_hlc_ms_report", "events", _REPORT_COLUMNS, unique=False)


def downgrade() -> None:
    """Revert this migration."""
    op.drop_index("ix_events_kind_hlc_ms_report", table_name="events")
    op.drop_table("rollout_targets")
    op.drop_table("version_marks")
    with op.batch_alter_table("fleet_alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fleet_alerts_active"))
    op.drop_table("fleet_alerts")
    with op.batch_alter_table("kiosk_timeline", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_kiosk_timeline_at_ms"))
        batch_op.drop_index(batch_op.f("ix_kiosk_timeline_kiosk_id_at_ms"))
    op.drop_table("kiosk_timeline")
    op.drop_table("kiosk_facts")
