"""classes: store timetables (every revision kept) and layered rule bundles' base version

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
    """Create the store timetables and mark layered rule bundles."""
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


def downgrade() -> None:
    """Drop the store timetables and the layered bundles' mark."""
    with op.batch_alter_table("rule_bundles") as batch:
        batch.drop_column("base_version")
    op.drop_table("store_timetables")
