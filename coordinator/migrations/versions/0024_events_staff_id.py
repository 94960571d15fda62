"""reports: events.staff_id (who performed the fact), in the report index

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-03 19:00:00.000000
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None

_INDEX = "ix_events_kind_hlc_ms_report"
_OLD_COLUMNS = [
    *("kind", "hlc_ms", "store_id", "source", "member_id", "quarantined"),
    *("points", "class_session_id", "sessions"),
]
_BATCH = 50_000
"""Rows of ``events`` (by id) filled per UPDATE: bounded statements on a big table."""


def _body(body: sa.ColumnClause[str], dialect: str) -> Any:
    """``body`` as JSON, read the way the reports read it."""
    if dialect == "postgresql":
        return sa.cast(body, postgresql.JSONB)
    return sa.type_coerce(body, sa.JSON)


def upgrade() -> None:
    """Apply this migration: add the column, fill it for the rows already stored (with
    ``coordinator.reports.indexes.staff_of``'s precedence, batch by batch of ids) and
    rebuild the report index with it."""
    # Plain ALTER TABLE / CREATE INDEX (no batch): events may already hold millions of rows.
    op.add_column("events", sa.Column("staff_id", sa.String(length=64), nullable=True))
    bind = op.get_bind()
    events = sa.table("events", sa.column("id"), sa.column("body"), sa.column("staff_id"))
    body = _body(events.c.body, bind.dialect.name)
    acting = sa.func.coalesce(
        body[("body", "staff_id")].as_string(),
        body[("body", "staff_user")].as_string(),
        body[("credential", "staff_id")].as_string(),
    )
    low, high = bind.execute(sa.select(sa.func.min(events.c.id), sa.func.max(events.c.id))).one()
    if low is not None:
        for first in range(int(low), int(high) + 1, _BATCH):
            bind.execute(
                sa.update(events)
                .where(events.c.id >= first, events.c.id < first + _BATCH, acting.is_not(None))
                .values(staff_id=acting)
            )
    op.drop_index(_INDEX, table_name="events")
    op.create_index(_INDEX, "events", [*_OLD_COLUMNS, "staff_id"])


def downgrade() -> None:
    """Revert this migration."""
    op.drop_index(_INDEX, table_name="events")
    op.create_index(_INDEX, "events", _OLD_COLUMNS, unique=False)
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("staff_id")
