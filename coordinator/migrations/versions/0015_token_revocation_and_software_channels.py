"""users.tokens_after_ms (revoked tokens and sessions); software channels for staged updates

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 15:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the revocation instant (none yet: every issued token stays valid) and the software
    channels with their store assignments."""
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("tokens_after_ms", sa.BigInteger(), nullable=True))
    op.create_table(
        "software_channels",
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("version", sa.String(length=40), nullable=False),
        sa.Column("wheel_url", sa.String(length=500), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("percentage", sa.Integer(), nullable=False),
        sa.Column("previous_version", sa.String(length=40), nullable=True),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("channel", name=op.f("pk_software_channels")),
    )
    op.create_table(
        "store_software_channels",
        sa.Column("store_id", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["store_id"],
            ["stores.store_id"],
            name=op.f("fk_store_software_channels_store_id_stores"),
        ),
        sa.PrimaryKeyConstraint("store_id", name=op.f("pk_store_software_channels")),
    )


def downgrade() -> None:
    """Drop the software channels and the revocation instant."""
    op.drop_table("store_software_channels")
    op.drop_table("software_channels")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("tokens_after_ms")
