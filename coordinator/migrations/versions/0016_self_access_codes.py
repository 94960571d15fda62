"""phonecard: self_access_codes, one-time codes a member proves a phone number with (hashed)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03 15:55:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the self-access code table."""
    op.create_table(
        "self_access_codes",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("used_ms", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_self_access_codes")),
    )
    op.create_index(
        op.f("ix_self_access_codes_phone_created_ms"),
        "self_access_codes",
        ["phone", "created_ms"],
    )


def downgrade() -> None:
    """Drop the self-access code table."""
    op.drop_index(op.f("ix_self_access_codes_phone_created_ms"), table_name="self_access_codes")
    op.drop_table("self_access_codes")
