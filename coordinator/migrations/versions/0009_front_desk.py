"""front desk: member birthday, gender, tags and referrer; the phone index (duplicate check);
the product catalogue and its sales

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 15:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the front desk's member fields and the phone index."""
    op.add_column("members", sa.Column("birthday", sa.String(length=10), nullable=True))
    op.add_column("members", sa.Column("gender", sa.String(length=8), nullable=True))
    op.add_column("members", sa.Column("tags", sa.Text(), nullable=True))
    op.add_column("members", sa.Column("referrer_id", sa.String(length=64), nullable=True))
    op.create_index(op.f("ix_members_phone"), "members", ["phone"])
    op.create_table(
        "products",
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("price_fen", sa.BigInteger(), nullable=False),
        sa.Column("sessions", sa.Integer(), nullable=False),
        sa.Column("validity_days", sa.Integer(), nullable=False),
        sa.Column("activate_on_first_use", sa.Boolean(), nullable=False),
        sa.Column("value_fen", sa.BigInteger(), nullable=False),
        sa.Column("class_types", sa.Text(), nullable=False),
        sa.Column("store_ids", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("product_id", name=op.f("pk_products")),
    )
    op.create_table(
        "product_sales",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("event_id", sa.String(length=32), nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("pass_id", sa.String(length=64), nullable=True),
        sa.Column("store_id", sa.String(length=64), nullable=True),
        sa.Column("staff", sa.String(length=64), nullable=False),
        sa.Column("price_fen", sa.BigInteger(), nullable=False),
        sa.Column("sold_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_sales")),
        sa.UniqueConstraint("event_id", name=op.f("uq_product_sales_event_id")),
    )
    op.create_index(op.f("ix_product_sales_sold_ms_staff"), "product_sales", ["sold_ms", "staff"])
    op.create_index(op.f("ix_product_sales_member_id"), "product_sales", ["member_id"])


def downgrade() -> None:
    """Drop them again."""
    op.drop_table("product_sales")
    op.drop_table("products")
    op.drop_index(op.f("ix_members_phone"), table_name="members")
    with op.batch_alter_table("members") as batch:
        for column in ("referrer_id", "tags", "gender", "birthday"):
            batch.drop_column(column)
