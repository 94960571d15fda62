"""products: how long a pass sold to start at its first use may wait before it starts

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-03 18:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add ``products.activate_within_days`` (90 for the products already in the catalogue)."""
    op.add_column(
        "products",
        sa.Column("activate_within_days", sa.Integer(), nullable=False, server_default="90"),
    )


def downgrade() -> None:
    """Drop ``products.activate_within_days``."""
    op.drop_column("products", "activate_within_days")
