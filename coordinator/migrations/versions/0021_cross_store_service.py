"""front desk: cross-store service rows, and the member's home store on catalogue sales

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-03 18:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the cross-store service rows; mark catalogue sales with the member's store."""
    op.create_table(
        "cross_store_services",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.String(length=32), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("home_store_id", sa.String(length=64), nullable=True),
        sa.Column("serving_store_id", sa.String(length=64), nullable=False),
        sa.Column("staff", sa.String(length=64), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cross_store_services")),
        sa.UniqueConstraint("event_id", name=op.f("uq_cross_store_services_event_id")),
    )
    op.create_index(
        op.f("ix_cross_store_services_member_id"), "cross_store_services", ["member_id"]
    )
    op.create_index(
        op.f("ix_cross_store_services_serving_store_id_at_ms"),
        "cross_store_services",
        ["serving_store_id", "at_ms"],
    )
    op.add_column(
        "product_sales", sa.Column("member_store_id", sa.String(length=64), nullable=True)
    )
    op.add_column(
        "product_sales",
        sa.Column("cross_store", sa.Boolean(), nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    """Drop the marks on catalogue sales and the cross-store service rows."""
    with op.batch_alter_table("product_sales") as batch:
        batch.drop_column("cross_store")
        batch.drop_column("member_store_id")
    op.drop_index(
        op.f("ix_cross_store_services_serving_store_id_at_ms"), table_name="cross_store_services"
    )
    op.drop_index(op.f("ix_cross_store_services_member_id"), table_name="cross_store_services")
    op.drop_table("cross_store_services")
