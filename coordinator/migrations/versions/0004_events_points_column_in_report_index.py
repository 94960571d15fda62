"""reports: events.points (body.points of check-ins, redemptions, reversals) in the report index

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 15:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_INDEX = "ix_events_kind_hlc_ms_report"
_OLD_COLUMNS = ["kind", "hlc_ms", "store_id", "source", "member_id", "quarantined"]
_POINTS_KINDS = ("checkin", "points_redeem", "reversal")


def _body_points(body: sa.ColumnClause[str], dialect: str) -> sa.ColumnElement[int]:
    """``body.points`` read in SQL the way the reports read it until now (NULL when absent)."""
    if dialect == "postgresql":
        json_body = sa.cast(body, postgresql.JSONB)
    else:
        json_body = sa.type_coerce(body, sa.JSON)
    return json_body[("body", "points")].as_integer()


def upgrade() -> None:
    """Apply this migration."""
    # Plain ALTER TABLE / CREATE INDEX (no batch): events may already hold millions of rows.
    op.add_column("events", sa.Column("points", sa.BigInteger(), nullable=True))
    events = sa.table("events", sa.column("kind"), sa.column("body"), sa.column("points"))
    dialect = op.get_bind().dialect.name
    op.execute(
        sa.update(events)
        .where(events.c.kind.in_(_POINTS_KINDS))
        .values(points=_body_points(events.c.body, dialect))
    )
    op.drop_index(_INDEX, table_name="events")
    op.create_index(_INDEX, "events", [*_OLD_COLUMNS, "points"], unique=False)


def downgrade() -> None:
    """Revert this migration."""
    op.drop_index(_INDEX, table_name="events")
    op.create_index(_INDEX, "events", _OLD_COLUMNS, unique=False)
    with op.batch_alter_table("events", schema=None) as batch_op:
        batch_op.drop_column("points")
