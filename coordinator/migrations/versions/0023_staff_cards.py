"""staff: a staff member's NFC staff card, as a keyed hash of its UID

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-03 18:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Add the staff card hash to users."""
    op.add_column("users", sa.Column("card_hash", sa.String(length=120), nullable=True))


def downgrade() -> None:
    """Drop the staff card hash."""
    with op.batch_alter_table("users") as batch:
        batch.drop_column("card_hash")
