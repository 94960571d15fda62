"""coach: sessions marked taught (credited to the coach) and late-cancel/no-show penalties

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03 16:20:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the taught sessions and the booking penalties."""
    op.create_table(
        "classes_taught",
        sa.Column("class_session_id", sa.String(length=64), nullable=False),
        sa.Column("store_id", sa.String(length=64), nullable=False),
        sa.Column("coach", sa.String(length=64), nullable=False),
        sa.Column("class_type", sa.String(length=64), nullable=False),
        sa.Column("starts_ms", sa.BigInteger(), nullable=False),
        sa.Column("attendance", sa.Integer(), nullable=False),
        sa.Column("marked_by", sa.String(length=64), nullable=False),
        sa.Column("marked_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("class_session_id", name=op.f("pk_classes_taught")),
    )
    op.create_index(
        op.f("ix_classes_taught_starts_ms_coach"), "classes_taught", ["starts_ms", "coach"]
    )
    op.create_table(
        "booking_penalties",
        sa.Column("class_session_id", sa.String(length=64), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("store_id", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("penalty", sa.String(length=16), nullable=False),
        sa.Column("pass_id", sa.String(length=64), nullable=True),
        sa.Column("event_id", sa.String(length=32), nullable=True),
        sa.Column("applied_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("class_session_id", "member_id", name=op.f("pk_booking_penalties")),
    )
    op.create_index(
        op.f("ix_booking_penalties_member_id_penalty"),
        "booking_penalties",
        ["member_id", "penalty"],
    )


def downgrade() -> None:
    """Drop the booking penalties and the taught sessions."""
    op.drop_index(op.f("ix_booking_penalties_member_id_penalty"), table_name="booking_penalties")
    op.drop_table("booking_penalties")
    op.drop_index(op.f("ix_classes_taught_starts_ms_coach"), table_name="classes_taught")
    op.drop_table("classes_taught")
