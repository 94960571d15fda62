"""engagement: webhook endpoints, their delivery outbox and attempt log (Standard Webhooks);
automation runs (members' birthday and tags come with 0009, the front desk)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 15:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the webhook endpoints, deliveries, attempts and automation runs."""
    op.create_table(
        "automation_runs",
        sa.Column("id", _BIGINT, nullable=False),
        sa.Column("automation_id", sa.String(length=40), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("occasion", sa.String(length=160), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("result", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_automation_runs")),
        sa.UniqueConstraint(
            "automation_id",
            "member_id",
            "occasion",
            name=op.f("uq_automation_runs_automation_id_member_id_occasion"),
        ),
    )
    op.create_index(
        op.f("ix_automation_runs_automation_id_at_ms"),
        "automation_runs",
        ["automation_id", "at_ms"],
    )
    op.create_table(
        "webhook_endpoints",
        sa.Column("endpoint_id", sa.String(length=32), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("store_id", sa.String(length=64), nullable=True),
        sa.Column("event_types", sa.Text(), nullable=False),
        sa.Column("secrets", sa.Text(), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("disabled_reason", sa.String(length=200), nullable=False),
        sa.Column("failing_since_ms", sa.BigInteger(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("endpoint_id", name=op.f("pk_webhook_endpoints")),
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", _BIGINT, nullable=False),
        sa.Column("endpoint_id", sa.String(length=32), nullable=False),
        sa.Column("message_id", sa.String(length=64), nullable=False),
        sa.Column("event_type", sa.String(length=80), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_ms", sa.BigInteger(), nullable=False),
        sa.Column("give_up_ms", sa.BigInteger(), nullable=False),
        sa.Column("lease_ms", sa.BigInteger(), nullable=False),
        sa.Column("lease_token", sa.String(length=32), nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("done_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint(
            "endpoint_id", "message_id", name=op.f("uq_webhook_deliveries_endpoint_id_message_id")
        ),
    )
    op.create_index(
        op.f("ix_webhook_deliveries_status_next_attempt_ms"),
        "webhook_deliveries",
        ["status", "next_attempt_ms"],
    )
    op.create_table(
        "webhook_attempts",
        sa.Column("id", _BIGINT, nullable=False),
        sa.Column("delivery_id", sa.BigInteger(), nullable=False),
        sa.Column("attempt_no", sa.Integer(), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_attempts")),
    )
    op.create_index(
        op.f("ix_webhook_attempts_delivery_id_attempt_no"),
        "webhook_attempts",
        ["delivery_id", "attempt_no"],
    )


def downgrade() -> None:
    """Drop the webhook and automation tables."""
    op.drop_index(op.f("ix_automation_runs_automation_id_at_ms"), table_name="automation_runs")
    op.drop_table("automation_runs")
    op.drop_index(op.f("ix_webhook_attempts_delivery_id_attempt_no"), table_name="webhook_attempts")
    op.drop_table("webhook_attempts")
    op.drop_index(
        op.f("ix_webhook_deliveries_status_next_attempt_ms"), table_name="webhook_deliveries"
    )
    op.drop_table("webhook_deliveries")
    op.drop_table("webhook_endpoints")
