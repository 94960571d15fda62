"""users: tokens_after_ms, the instant before which a user's tokens and sessions are refused

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
    """Add the revocation instant (none yet: every issued token stays valid)."""
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("tokens_after_ms", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    """Drop the revocation instant."""
    with op.batch_alter_table("users") as batch:
        batch.drop_column("tokens_after_ms")
