"""classes: store timetables (every revision kept), class bookings and the waitlist, and
layered rule bundles' base version

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 15:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the store timetables and the bookings, and mark layered rule bundles."""
    op.create_table(
        "store_timetables",
        sa.Column("store_id", sa.String(length=64), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("edited_by", sa.String(length=64), nullable=False),
        sa.Column("edited_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("store_id", "revision", name=op.f("pk_store_timetables")),
    )
    op.add_column("rule_bundles", sa.Column("base_version", sa.BigInteger(), nullable=True))
    op.create_table(
        "class_bookings",
        sa.Column("class_session_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("store_id", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("class_type", sa.String(length=64), nullable=False),
        sa.Column("starts_ms", sa.BigInteger(), nullable=False),
        sa.Column("ends_ms", sa.BigInteger(), nullable=False),
        sa.Column("queued_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("class_session_id", "member_id", name=op.f("pk_class_bookings")),
    )
    op.create_index(
        op.f("ix_class_bookings_member_id_starts_ms"), "class_bookings", ["member_id", "starts_ms"]
    )
    op.create_index(
        op.f("ix_class_bookings_store_id_starts_ms"), "class_bookings", ["store_id", "starts_ms"]
    )


def downgrade() -> None:
    """Drop the store timetables, the bookings and the layered bundles' mark."""
    op.drop_index(op.f("ix_class_bookings_store_id_starts_ms"), table_name="class_bookings")
    op.drop_index(op.f("ix_class_bookings_member_id_starts_ms"), table_name="class_bookings")
    op.drop_table("class_bookings")
    with op.batch_alter_table("rule_bundles") as batch:
        batch.drop_column("base_version")
    op.drop_table("store_timetables")
