"""phonecard: member_devices, the phones that sign a member's QR codes (public keys only)

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 15:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the member devices table."""
    op.create_table(
        "member_devices",
        sa.Column("device_id", sa.String(length=16), nullable=False),
        sa.Column("member_id", sa.String(length=64), nullable=False),
        sa.Column("public_key", sa.String(length=44), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_ms", sa.BigInteger(), nullable=False),
        sa.Column("user_agent", sa.String(length=200), nullable=False),
        sa.Column("revoked_ms", sa.BigInteger(), nullable=True),
        sa.Column("revoked_by", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("device_id", name=op.f("pk_member_devices")),
        sa.UniqueConstraint("public_key", name=op.f("uq_member_devices_public_key")),
    )
    op.create_index(op.f("ix_member_devices_member_id"), "member_devices", ["member_id"])


def downgrade() -> None:
    """Drop the member devices table."""
    op.drop_index(op.f("ix_member_devices_member_id"), table_name="member_devices")
    op.drop_table("member_devices")
