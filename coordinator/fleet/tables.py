"""Tables the ops dashboard adds to the central ledger (migration ``0002``).

They live on :data:`coordinator.schema.metadata` next to the ledger's own tables and hold
only what the dashboard derives; the ledger never reads them.

* ``kiosk_facts``: the facts last recorded per kiosk (alive, connected, in sync, readers,
  software, the time each version lag began), so changes are written once: every writer
  compares-and-sets on ``change_no``, and only the winner writes the timeline row;
* ``kiosk_timeline``: each change of a kiosk's facts and alerts, with the time it happened;
* ``fleet_alerts``: one row per (kiosk, alert kind) with its hysteresis state;
* ``version_marks``: when the coordinator first saw each deny-list / members version (to
  say how long a kiosk has been behind);
* ``rollout_targets``: the members version that carried a coupon campaign to the kiosks.
"""

from __future__ import annotations

import sqlalchemy as sa

from coordinator.schema import ID, BigInt, metadata

kiosk_facts = sa.Table(
    "kiosk_facts",
    metadata,
    sa.Column("kiosk_id", sa.String(ID), primary_key=True),
    sa.Column("facts", sa.Text, nullable=False),
    sa.Column("change_no", sa.BigInteger, nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
)

kiosk_timeline = sa.Table(
    "kiosk_timeline",
    metadata,
    sa.Column("id", BigInt, primary_key=True, autoincrement=True),
    sa.Column("kiosk_id", sa.String(ID), nullable=False),
    sa.Column("at_ms", sa.BigInteger, nullable=False),
    sa.Column("fact", sa.String(40), nullable=False),
    sa.Column("value", sa.String(200), nullable=False),
    sa.Column("previous", sa.String(200), nullable=True),
    sa.Column("detail", sa.Text, nullable=False, default=""),
    sa.Index(None, "kiosk_id", "at_ms"),
    sa.Index(None, "at_ms"),
)

fleet_alerts = sa.Table(
    "fleet_alerts",
    metadata,
    sa.Column("kiosk_id", sa.String(ID), primary_key=True),
    sa.Column("kind", sa.String(40), primary_key=True),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("raised_ms", sa.BigInteger, nullable=False),
    sa.Column("cleared_ms", sa.BigInteger, nullable=True),
    sa.Column("ok_since_ms", sa.BigInteger, nullable=True),
    sa.Column("raised_count", sa.Integer, nullable=False),
    sa.Column("detail", sa.Text, nullable=False, default="{}"),
    sa.Column("change_no", sa.BigInteger, nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
    sa.Index(None, "active"),
)

version_marks = sa.Table(
    "version_marks",
    metadata,
    sa.Column("name", sa.String(16), primary_key=True),
    sa.Column("version", sa.BigInteger, primary_key=True),
    sa.Column("first_seen_ms", sa.BigInteger, nullable=False),
)

rollout_targets = sa.Table(
    "rollout_targets",
    metadata,
    sa.Column("campaign_id", sa.String(ID), primary_key=True),
    sa.Column("members_version", sa.BigInteger, nullable=False),
    sa.Column("member_count", sa.Integer, nullable=False),
    sa.Column("resolved_ms", sa.BigInteger, nullable=False),
)
