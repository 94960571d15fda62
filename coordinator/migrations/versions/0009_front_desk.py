"""front desk: member birthday, gender, tags and referrer; the phone index (duplicate check)

Revision ID: 0009
Revises: 0007
Create Date: 2026-12-03 15:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the front desk's member fields and the phone index."""
    op.add_column("members", sa.Column("birthday", sa.String(length=10), nullable=True))
    op.add_column("members", sa.Column("gender", sa.String(length=8), nullable=True))
    op.add_column("members", sa.Column("tags", sa.Text(), nullable=True))
    op.add_column("members", sa.Column("referrer_id", sa.String(length=64), nullable=True))
    op.create_index(op.f("ix_members_phone"), "members", ["phone"])


def downgrade() -> None:
    """Drop them again."""
    op.drop_index(op.f("ix_members_phone"), table_name="members")
    with op.batch_alter_table("members") as batch:
        for column in ("referrer_id", "tags", "gender", "birthday"):
            batch.drop_column(column)
