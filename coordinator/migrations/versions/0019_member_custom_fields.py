"""members: custom fields the chain defines (definitions, and each member's values)

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03 18:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the field definitions and give members a column for their values."""
    op.create_table(
        "member_fields",
        sa.Column("key", sa.String(length=32), nullable=False),
        sa.Column("definition", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("removed", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_member_fields")),
    )
    op.add_column("members", sa.Column("custom", sa.Text(), nullable=True))


def downgrade() -> None:
    """Drop the members' values and the field definitions."""
    op.drop_column("members", "custom")
    op.drop_table("member_fields")
