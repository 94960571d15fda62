"""streams: kiosk stream epochs and the lost ranges of closed epochs (issue 19)

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 15:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create kiosk_streams and lost_ranges."""
    op.create_table(
        "kiosk_streams",
        sa.Column("kiosk_id", sa.String(length=64), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("start_seq", sa.BigInteger(), nullable=False),
        sa.Column("heard_seq", sa.BigInteger(), nullable=False),
        sa.Column("ledger_id", sa.String(length=32), nullable=True),
        sa.Column("opened_ms", sa.BigInteger(), nullable=False),
        sa.Column("opened_by", sa.String(length=64), nullable=False),
        sa.Column("closed_ms", sa.BigInteger(), nullable=True),
        sa.Column("closed_applied_seq", sa.BigInteger(), nullable=True),
        sa.Column("refused_reason", sa.String(length=40), nullable=True),
        sa.Column("refused_detail", sa.Text(), nullable=True),
        sa.Column("refused_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("kiosk_id", "epoch", name=op.f("pk_kiosk_streams")),
    )
    op.create_table(
        "lost_ranges",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kiosk_id", sa.String(length=64), nullable=False),
        sa.Column("epoch", sa.BigInteger(), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("recorded_ms", sa.BigInteger(), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lost_ranges")),
    )
    op.create_index(
        op.f("ix_lost_ranges_kiosk_id_first_seq"), "lost_ranges", ["kiosk_id", "first_seq"]
    )


def downgrade() -> None:
    """Drop them."""
    op.drop_index(op.f("ix_lost_ranges_kiosk_id_first_seq"), table_name="lost_ranges")
    op.drop_table("lost_ranges")
    op.drop_table("kiosk_streams")
