"""outbound: the notifications outbox (member notifications decided by the ledger's services)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 13:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the notifications outbox."""
    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("notification_id", sa.String(length=32), nullable=False),
        sa.Column("dedupe_key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=60), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=True),
        sa.Column("store_id", sa.String(length=64), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("notification_id", name=op.f("uq_notifications_notification_id")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_notifications_dedupe_key")),
    )
    op.create_index(
        op.f("ix_notifications_member_id_created_ms"),
        "notifications",
        ["member_id", "created_ms"],
    )


def downgrade() -> None:
    """Drop the notifications outbox."""
    op.drop_index(op.f("ix_notifications_member_id_created_ms"), table_name="notifications")
    op.drop_table("notifications")
