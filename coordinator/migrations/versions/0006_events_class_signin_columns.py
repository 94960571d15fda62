"""reports: events.class_session_id and events.sessions of class sign-ins, in the report index

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-25 16:00:00.000000
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_INDEX = "ix_events_kind_hlc_ms_report"
_OLD_COLUMNS = ["kind", "hlc_ms", "store_id", "source", "member_id", "quarantined", "points"]


def _body(body: sa.ColumnClause[str], dialect: str) -> Any:
    """``body`` as JSON, read the way the reports read it until now."""
    if dialect == "postgresql":
        return sa.cast(body, postgresql.JSONB)
    return sa.type_coerce(body, sa.JSON)


def upgrade() -> None:
    """Apply this migration."""
    # Plain ALTER TABLE / CREATE INDEX (no batch): events may already hold millions of rows.
    op.add_column("events", sa.Column("class_session_id", sa.String(length=64), nullable=True))
    op.add_column("events", sa.Column("sessions", sa.Integer(), nullable=True))
    events = sa.table(
        "events",
        sa.column("kind"),
        sa.column("body"),
        sa.column("class_session_id"),
        sa.column("sessions"),
    )
    body = _body(events.c.body, op.get_bind().dialect.name)
    op.execute(
        sa.update(events)
        .where(events.c.kind == "class_signin")
        .values(
            class_session_id=body[("body", "class_session_id")].as_string(),
            sessions=body[("body", "sessions")].as_integer(),
        )
    )
    op.drop_index(_INDEX, table_name="events")
    op.create_index(_INDEX, "events", [*_OLD_COLUMNS, "class_session_id", "sessions"])


def downgrade() -> None:
    """Revert this migration."""
    op.drop_index(_INDEX, table_name="events")
    op.create_index(_INDEX, "events", _OLD_COLUMNS, unique=False)
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("sessions")
        batch_op.drop_column("class_session_id")
