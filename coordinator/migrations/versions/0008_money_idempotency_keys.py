"""money: idempotency keys of POST /api/v1/purchases (a retry gets the first answer)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 15:15:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the idempotency keys table."""
    op.create_table(
        "idempotency_keys",
        sa.Column("scope", sa.String(length=80), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("response", sa.Text(), nullable=True),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index(op.f("ix_idempotency_keys_expires_ms"), "idempotency_keys", ["expires_ms"])


def downgrade() -> None:
    """Drop the idempotency keys table."""
    op.drop_index(op.f("ix_idempotency_keys_expires_ms"), table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
