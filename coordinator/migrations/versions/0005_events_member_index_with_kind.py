"""reports: the events member index also holds kind and quarantined (visit days read it alone)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 15:45:00.000000
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_OLD = "ix_events_member_id_hlc_ms_hlc_c_source_seq"
_OLD_COLUMNS = ["member_id", "hlc_ms", "hlc_c", "source", "seq"]
_NEW = "ix_events_member_id_hlc_ms_hlc_c_source_seq_kind_quarantined"


def upgrade() -> None:
    """Apply this migration."""
    # Plain CREATE/DROP INDEX (no batch): events may already hold millions of rows.
    op.create_index(_NEW, "events", [*_OLD_COLUMNS, "kind", "quarantined"], unique=False)
    op.drop_index(_OLD, table_name="events")


def downgrade() -> None:
    """Revert this migration."""
    op.create_index(_OLD, "events", _OLD_COLUMNS, unique=False)
    op.drop_index(_NEW, table_name="events")
