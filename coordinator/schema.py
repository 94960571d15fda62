"""Every table and index of the coordinator's database (SQLAlchemy Core), in one metadata.

Alembic migrations create them; ``tests/coordinator/test_schema_migrations.py`` builds a
database from the migrations and compares it with :data:`metadata`, so a table, column or
index is declared here and nowhere else (no module adds to the metadata as an import's side
effect).

Portable across SQLite and PostgreSQL: no dialect-specific SQL, JSON kept as text written
by pydantic (one serialiser on both databases), times as UTC epoch milliseconds.
Exactly-once rests on constraints here, not on process memory: ``events`` is unique on
``event_id`` and on ``(source, seq)``; conflicts are unique on ``dedupe_key``.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

BigInt = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
"""Autoincrementing keys: BIGINT on PostgreSQL, INTEGER (rowid alias) on SQLite."""

ID = 64

stores = sa.Table(
    "stores",
    metadata,
    sa.Column("store_id", sa.String(ID), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("timezone", sa.String(64), nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
)

kiosks = sa.Table(
    "kiosks",
    metadata,
    sa.Column("kiosk_id", sa.String(ID), primary_key=True),
    sa.Column("store_id", sa.String(ID), sa.ForeignKey("stores.store_id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("revoked", sa.Boolean, nullable=False, default=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("mqtt_password_hash", sa.String(300), nullable=True),
    sa.Column("applied_seq", sa.BigInteger, nullable=False, default=0),
    # Highest contiguous seq of this kiosk applied to the ledger (what the Ack says).
    sa.Column("last_event_received_ms", sa.BigInteger, nullable=True),
    sa.Column("poisoned_count", sa.Integer, nullable=False, default=0),
    sa.Index(None, "store_id"),
)

kiosk_health = sa.Table(
    "kiosk_health",
    metadata,
    sa.Column("kiosk_id", sa.String(ID), sa.ForeignKey("kiosks.kiosk_id"), primary_key=True),
    sa.Column("status_state", sa.String(16), nullable=True),
    sa.Column("status_at_ms", sa.BigInteger, nullable=True),
    sa.Column("status_received_ms", sa.BigInteger, nullable=True),
    sa.Column("heartbeat", sa.Text, nullable=True),
    sa.Column("heartbeat_received_ms", sa.BigInteger, nullable=True),
    sa.Column("heartbeat_interval_s", sa.Integer, nullable=True),
    sa.Column("sync_received_ms", sa.BigInteger, nullable=True),
    sa.Column("reported_versions", sa.Text, nullable=True),
    sa.Column("reported_last_seq", sa.BigInteger, nullable=True),
    sa.Column("last_good_tap_ms", sa.BigInteger, nullable=True),
)

members = sa.Table(
    "members",
    metadata,
    sa.Column("member_id", sa.String(ID), primary_key=True),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("full_name", sa.String(200), nullable=False, default=""),
    sa.Column("phone", sa.String(40), nullable=False, default=""),
    sa.Column("home_store_id", sa.String(ID), sa.ForeignKey("stores.store_id"), nullable=True),
    sa.Column("store_scope", sa.Text, nullable=True),
    # JSON list of stores whose kiosks get this member; NULL = every store (the default).
    sa.Column("status", sa.String(16), nullable=False, default="active"),
    sa.Column("lang", sa.String(4), nullable=False, default="zh"),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("birthday", sa.String(10), nullable=True),
    # ISO date (YYYY-MM-DD); never leaves the coordinator (kiosks get no birthday).
    sa.Column("gender", sa.String(8), nullable=True),
    sa.Column("tags", sa.Text, nullable=True),
    # JSON list of the chain's member tags (``VIP``, ``学生``).
    sa.Column("referrer_id", sa.String(ID), nullable=True),
    # The member who brought this one (migration 0009 added these four and the phone index).
    sa.Column("custom", sa.Text, nullable=True),
    # JSON object of the chain's custom field values (key -> value; migration 0019); never
    # leaves the coordinator (kiosks get no custom fields).
    sa.Index(None, "home_store_id"),
    sa.Index(None, "phone"),
    sa.Index(None, "display_name"),
    sa.Index(None, "full_name"),
    # The front desk's search: prefix ranges of phone and names (migration 0009).
)

member_fields = sa.Table(
    "member_fields",
    metadata,
    sa.Column("key", sa.String(32), primary_key=True),
    sa.Column("definition", sa.Text, nullable=False),
    # shared.custom_fields.FieldDefinition JSON (labels, kind, options, required, visibility).
    sa.Column("position", sa.Integer, nullable=False),
    # The order the forms show the fields in (the order they were added).
    sa.Column("removed", sa.Boolean, nullable=False, default=False),
    # A removed field is hidden from forms and reads; members' values for it are kept.
    sa.Column("updated_by", sa.String(ID), nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
)
"""The custom member fields HQ defines (migration 0019)."""

member_states = sa.Table(
    "member_states",
    metadata,
    sa.Column("member_id", sa.String(ID), primary_key=True),
    sa.Column("ledger", sa.Text, nullable=False),
    # MemberLedger JSON: the fold of every applied event of the member in sort order.
    sa.Column("tier", sa.String(ID), nullable=False, default="basic"),
    sa.Column("last_hlc_ms", sa.BigInteger, nullable=False, default=0),
    sa.Column("last_hlc_c", sa.BigInteger, nullable=False, default=0),
    sa.Column("last_source", sa.String(ID), nullable=False, default=""),
    sa.Column("last_seq", sa.BigInteger, nullable=False, default=0),
    sa.Column("event_count", sa.Integer, nullable=False, default=0),
    sa.Column("recomputes", sa.Integer, nullable=False, default=0),
    sa.Column("next_expiry_ms", sa.BigInteger, nullable=True),
    # Earliest expiry among lots with points left (the expiry job's index).
    sa.Column("change_no", sa.BigInteger, nullable=False, default=0),
    sa.Column("dirty", sa.Boolean, nullable=False, default=False),
    # Changed since the last member push.
    sa.Column("version", sa.BigInteger, nullable=False, default=0),
    # Members version whose push carried this record's current state.
    sa.Column("updated_ms", sa.BigInteger, nullable=False, default=0),
    sa.Index(None, "dirty"),
    sa.Index(None, "version"),
    sa.Index(None, "next_expiry_ms"),
)

cards = sa.Table(
    "cards",
    metadata,
    sa.Column("uid", sa.String(20), primary_key=True),
    sa.Column("member_id", sa.String(ID), nullable=False),
    sa.Column("status", sa.String(16), nullable=False, default="active"),
    sa.Column("bound_ms", sa.BigInteger, nullable=False),
    sa.Column("revoked_ms", sa.BigInteger, nullable=True),
    sa.Column("replaced_by", sa.String(20), nullable=True),
    sa.Index(None, "member_id"),
)

member_devices = sa.Table(
    "member_devices",
    metadata,
    sa.Column("device_id", sa.String(16), primary_key=True),
    sa.Column("member_id", sa.String(ID), nullable=False),
    sa.Column("public_key", sa.String(44), nullable=False, unique=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("last_seen_ms", sa.BigInteger, nullable=False),
    sa.Column("user_agent", sa.String(200), nullable=False, default=""),
    sa.Column("revoked_ms", sa.BigInteger, nullable=True),
    sa.Column("revoked_by", sa.String(64), nullable=True),
    sa.Index(None, "member_id"),
)
"""Phones that sign a member's QR codes (public keys only; ``shared.phonecode``)."""

self_access_codes = sa.Table(
    "self_access_codes",
    metadata,
    sa.Column("id", BigInt, primary_key=True, autoincrement=True),
    sa.Column("phone", sa.String(40), nullable=False),
    sa.Column("member_id", sa.String(ID), nullable=False),
    sa.Column("code_hash", sa.String(64), nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("expires_ms", sa.BigInteger, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("used_ms", sa.BigInteger, nullable=True),
    sa.Index(None, "phone", "created_ms"),
)
"""One-time codes a member proves a phone number with (only a keyed hash is kept)."""

deny_entries = sa.Table(
    "deny_entries",
    metadata,
    sa.Column("uid", sa.String(20), primary_key=True),
    sa.Column("revoked_ms", sa.BigInteger, nullable=False),
    sa.Column("reason", sa.String(16), nullable=False),
    sa.Column("removed", sa.Boolean, nullable=False, default=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Index(None, "version"),
)

counters = sa.Table(
    "counters",
    metadata,
    sa.Column("name", sa.String(40), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)
"""Monotonic counters: ``hq_seq``, ``members_version``, ``deny_version``, ``rules_version``."""

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", BigInt, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(32), nullable=False),
    sa.Column("source", sa.String(ID), nullable=False),
    sa.Column("seq", sa.BigInteger, nullable=False),
    sa.Column("store_id", sa.String(ID), nullable=True),
    sa.Column("member_id", sa.String(ID), nullable=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("hlc_ms", sa.BigInteger, nullable=False),
    sa.Column("hlc_c", sa.BigInteger, nullable=False),
    sa.Column("wall_ms", sa.BigInteger, nullable=False),
    sa.Column("received_ms", sa.BigInteger, nullable=False),
    sa.Column("offline", sa.Boolean, nullable=False),
    sa.Column("quarantined", sa.Boolean, nullable=False, default=False),
    # Recorded (the seq is used up, nothing is lost) but never folded: see its conflict.
    sa.Column("body", sa.Text, nullable=False),
    # The whole Event as JSON.
    sa.Column("points", sa.BigInteger, nullable=True),
    # ``body.points`` of check-ins, points redemptions and reversals (NULL for other kinds),
    # written with the row (migration 0004 filled older rows): the reports sum it from
    # their index instead of parsing hundreds of thousands of bodies.
    sa.Column("class_session_id", sa.String(ID), nullable=True),
    sa.Column("sessions", sa.Integer, nullable=True),
    # ``body.class_session_id`` and ``body.sessions`` of class sign-ins (NULL for other kinds),
    # written with the row (migration 0006 filled older rows), for the same reason.
    sa.Column("staff_id", sa.String(ID), nullable=True),
    # The staff member who performed the fact (``coordinator.reports.indexes.staff_of``:
    # the body's staff id or user, else the kiosk credential's staff id; NULL for a member's
    # own tap), written with the row (migration 0024 filled older rows): redemptions per
    # staff member are counted from the report index, not from the bodies.
    sa.UniqueConstraint("event_id"),
    sa.UniqueConstraint("source", "seq"),
    sa.Index(None, "member_id", "hlc_ms", "hlc_c", "source", "seq", "kind", "quarantined"),
    # A member's events in fold order; kind and quarantined (migration 0005) let the reports'
    # year of visit days read it alone, member by member (no sort of a million rows).
    sa.Index(None, "store_id", "id"),
    sa.Index(None, "kind", "id"),
    sa.Index(
        "ix_events_kind_hlc_ms_report",
        *("kind", "hlc_ms", "store_id", "source", "member_id", "quarantined"),
        *("points", "class_session_id", "sessions", "staff_id"),
    ),
    # The reports' index (migrations 0002, 0004, 0006, 0024): every report filters by kind and an
    # hlc_ms range; the trailing columns let it read the index alone (see
    # coordinator.reports.indexes).
)

held_events = sa.Table(
    "held_events",
    metadata,
    sa.Column("source", sa.String(ID), primary_key=True),
    sa.Column("seq", sa.BigInteger, primary_key=True),
    sa.Column("event_id", sa.String(32), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("received_ms", sa.BigInteger, nullable=False),
)
"""Events that arrived ahead of a gap; applied as soon as the gap is filled."""

conflicts = sa.Table(
    "conflicts",
    metadata,
    sa.Column("conflict_id", sa.String(ID), primary_key=True),
    sa.Column("dedupe_key", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(40), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    # open, resolved, or withdrawn (a recomputed fold no longer raises it).
    sa.Column("member_id", sa.String(ID), nullable=True),
    sa.Column("subject_id", sa.String(ID), nullable=True),
    sa.Column("event_id", sa.String(32), nullable=True),
    sa.Column("kiosk_id", sa.String(ID), nullable=True),
    sa.Column("store_id", sa.String(ID), nullable=True),
    sa.Column("store_ids", sa.Text, nullable=False, default="[]"),
    sa.Column("amount", sa.Integer, nullable=False, default=0),
    sa.Column("occurrences", sa.Integer, nullable=False, default=1),
    sa.Column("explanation", sa.Text, nullable=False),
    sa.Column("detail", sa.Text, nullable=False, default="{}"),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
    sa.Column("resolved_by", sa.String(ID), nullable=True),
    sa.Column("resolved_ms", sa.BigInteger, nullable=True),
    sa.Column("resolution_note", sa.Text, nullable=True),
    sa.Column("resolution_event_id", sa.String(32), nullable=True),
    sa.UniqueConstraint("dedupe_key"),
    sa.Index(None, "status", "created_ms"),
    sa.Index(None, "member_id"),
)

rule_bundles = sa.Table(
    "rule_bundles",
    metadata,
    sa.Column("bundle_id", BigInt, primary_key=True, autoincrement=True),
    sa.Column("version", sa.BigInteger, nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("store_scope", sa.Text, nullable=False, default="[]"),
    sa.Column("content", sa.Text, nullable=False),
    # RuleBundle JSON; version, scope, QR keys and publish time are filled at publish.
    sa.Column("note", sa.String(200), nullable=False, default=""),
    sa.Column("created_by", sa.String(ID), nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("published_by", sa.String(ID), nullable=True),
    sa.Column("published_ms", sa.BigInteger, nullable=True),
    sa.Column("base_version", sa.BigInteger, nullable=True),
    # Set on a store's layered bundle: the version of the bundle its timetable was layered
    # on (chain defaults, then store overrides). None for a bundle published as such.
    sa.UniqueConstraint("version"),
)

class_bookings = sa.Table(
    "class_bookings",
    metadata,
    sa.Column("class_session_id", sa.String(ID), primary_key=True),
    sa.Column("member_id", sa.String(ID), primary_key=True),
    sa.Column("store_id", sa.String(ID), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    # shared.booking.BookingStatus: booked, waitlisted, cancelled, late_cancelled.
    sa.Column("class_type", sa.String(ID), nullable=False),
    sa.Column("starts_ms", sa.BigInteger, nullable=False),
    sa.Column("ends_ms", sa.BigInteger, nullable=False),
    sa.Column("queued_ms", sa.BigInteger, nullable=False),
    # When the member asked (the waitlist's order; a re-booking asks again).
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_by", sa.String(ID), nullable=False),
    sa.Index(None, "member_id", "starts_ms"),
    sa.Index(None, "store_id", "starts_ms"),
)

classes_taught = sa.Table(
    "classes_taught",
    metadata,
    sa.Column("class_session_id", sa.String(ID), primary_key=True),
    sa.Column("store_id", sa.String(ID), nullable=False),
    sa.Column("coach", sa.String(ID), nullable=False),
    # The coach credited (the session's instructor: a staff username).
    sa.Column("class_type", sa.String(ID), nullable=False),
    sa.Column("starts_ms", sa.BigInteger, nullable=False),
    sa.Column("attendance", sa.Integer, nullable=False),
    # Students signed in when it was marked taught (booked and walk-ins).
    sa.Column("marked_by", sa.String(ID), nullable=False),
    sa.Column("marked_ms", sa.BigInteger, nullable=False),
    sa.Index(None, "starts_ms", "coach"),
)
"""Sessions marked as taught (once each): what the staff commission report credits."""

booking_penalties = sa.Table(
    "booking_penalties",
    metadata,
    sa.Column("class_session_id", sa.String(ID), primary_key=True),
    sa.Column("member_id", sa.String(ID), primary_key=True),
    sa.Column("store_id", sa.String(ID), nullable=False),
    sa.Column("reason", sa.String(16), nullable=False),
    # late_cancel or no_show.
    sa.Column("penalty", sa.String(16), nullable=False),
    # shared.model.Penalty: deduct_session or strike.
    sa.Column("pass_id", sa.String(ID), nullable=True),
    sa.Column("event_id", sa.String(32), nullable=True),
    # The hq event that deducted the session (None for a strike).
    sa.Column("applied_ms", sa.BigInteger, nullable=False),
    sa.Index(None, "member_id", "penalty"),
)
"""Late-cancel and no-show penalties, once per booking (housekeeping, after the session)."""

store_timetables = sa.Table(
    "store_timetables",
    metadata,
    sa.Column("store_id", sa.String(ID), primary_key=True),
    sa.Column("revision", sa.BigInteger, primary_key=True),
    # Per store, 1, 2, ...: every edit is kept (who changed what is answerable).
    sa.Column("content", sa.Text, nullable=False),
    # shared.timetable.Timetable JSON (the store's weekly slots and exceptions).
    sa.Column("note", sa.String(200), nullable=False, default=""),
    sa.Column("edited_by", sa.String(ID), nullable=False),
    sa.Column("edited_ms", sa.BigInteger, nullable=False),
)

qr_keys = sa.Table(
    "qr_keys",
    metadata,
    sa.Column("key_id", sa.String(16), primary_key=True),
    sa.Column("private_key", sa.String(200), nullable=False),
    # Sealed (AES-256-GCM, see coordinator.security.key_sealing); never the raw key.
    sa.Column("public_key", sa.String(64), nullable=False),
    sa.Column("not_before_ms", sa.BigInteger, nullable=False),
    sa.Column("not_after_ms", sa.BigInteger, nullable=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("signing", sa.Boolean, nullable=False, default=False),
)

coupon_claims = sa.Table(
    "coupon_claims",
    metadata,
    sa.Column("claim_id", sa.String(ID), primary_key=True),
    sa.Column("coupon_id", sa.String(ID), nullable=False),
    sa.Column("member_id", sa.String(ID), nullable=False),
    sa.Column("kiosk_id", sa.String(ID), nullable=False),
    sa.Column("event_id", sa.String(32), nullable=True),
    sa.Column("status", sa.String(16), nullable=False),
    # granted, denied, consumed or expired.
    sa.Column("reason", sa.String(40), nullable=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("expires_ms", sa.BigInteger, nullable=False),
    sa.Index(None, "coupon_id", "status"),
    sa.Index(None, "status", "expires_ms"),
)

qr_nonces = sa.Table(
    "qr_nonces",
    metadata,
    sa.Column("nonce", sa.String(32), primary_key=True),
    sa.Column("event_id", sa.String(32), nullable=False),
    sa.Column("kiosk_id", sa.String(ID), nullable=False),
    sa.Column("at_ms", sa.BigInteger, nullable=False),
)

enrollment_codes = sa.Table(
    "enrollment_codes",
    metadata,
    sa.Column("code_hash", sa.String(64), primary_key=True),
    # SHA-256 of the one-time code (the code itself is shown once and never stored).
    sa.Column("kiosk_id", sa.String(ID), nullable=False),
    sa.Column("store_id", sa.String(ID), sa.ForeignKey("stores.store_id"), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("created_by", sa.String(ID), nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("expires_ms", sa.BigInteger, nullable=False),
    sa.Column("used_ms", sa.BigInteger, nullable=True),
    sa.Column("used_from", sa.String(64), nullable=True),
    sa.Index(None, "kiosk_id"),
)

campaigns = sa.Table(
    "campaigns",
    metadata,
    sa.Column("campaign_id", sa.String(ID), primary_key=True),
    sa.Column("title", sa.String(200), nullable=False),
    sa.Column("coupon_template", sa.Text, nullable=False),
    sa.Column("segment", sa.Text, nullable=False),
    sa.Column("issued_count", sa.Integer, nullable=False, default=0),
    sa.Column("created_by", sa.String(ID), nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
)

products = sa.Table(
    "products",
    metadata,
    sa.Column("product_id", sa.String(ID), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    # punch (N sessions), time (unlimited in a period), stored_value (a top-up package).
    sa.Column("price_fen", sa.BigInteger, nullable=False),
    sa.Column("sessions", sa.Integer, nullable=False, default=0),
    sa.Column("validity_days", sa.Integer, nullable=False, default=0),
    sa.Column("activate_on_first_use", sa.Boolean, nullable=False, default=False),
    sa.Column("activate_within_days", sa.Integer, nullable=False, server_default="90"),
    # With activate_on_first_use: a pass never used starts by itself this many store-local
    # days after the sale (shared.model.FirstUse).
    sa.Column("value_fen", sa.BigInteger, nullable=False, default=0),
    # What a stored-value package credits (e.g. pay 100000, get 110000).
    sa.Column("class_types", sa.Text, nullable=False, default="[]"),
    sa.Column("store_ids", sa.Text, nullable=False, default="[]"),
    # JSON lists; store_ids = stores that sell it ([]: every store).
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("created_by", sa.String(ID), nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
)
"""The chain's card products (migration 0009): what the front desk sells in two clicks."""

product_sales = sa.Table(
    "product_sales",
    metadata,
    sa.Column("id", BigInt, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(32), nullable=False),
    # The ledger event (pass_issue) the sale recorded.
    sa.Column("product_id", sa.String(ID), nullable=False),
    sa.Column("member_id", sa.String(ID), nullable=False),
    sa.Column("pass_id", sa.String(ID), nullable=True),
    sa.Column("store_id", sa.String(ID), nullable=True),
    sa.Column("staff", sa.String(ID), nullable=False),
    sa.Column("price_fen", sa.BigInteger, nullable=False),
    sa.Column("commission_fen", sa.BigInteger, nullable=False),
    sa.Column("rules_version", sa.BigInteger, nullable=False),
    # The staff commission, by the rule bundle in force for the store at the sale (its
    # version): a later rule change does not rewrite what was earned.
    sa.Column("sold_ms", sa.BigInteger, nullable=False),
    sa.Column("member_store_id", sa.String(ID), nullable=True),
    # The member's home store at the sale; ``store_id`` is the store that sold.
    sa.Column("cross_store", sa.Boolean, nullable=False, server_default=sa.false()),
    # True: sold by another store than the member's home (cross-store service).
    sa.UniqueConstraint("event_id"),
    sa.Index(None, "sold_ms", "staff"),
    sa.Index(None, "member_id"),
)
"""Sales from the catalogue: who sold what to whom, where, for how much (commission)."""

cross_store_services = sa.Table(
    "cross_store_services",
    metadata,
    sa.Column("id", BigInt, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(32), nullable=False),
    # The ledger event of the action (pass_issue, sv_topup, pass_update, purchase).
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("member_id", sa.String(ID), nullable=False),
    sa.Column("home_store_id", sa.String(ID), nullable=True),
    sa.Column("serving_store_id", sa.String(ID), nullable=False),
    sa.Column("staff", sa.String(ID), nullable=False),
    sa.Column("amount_fen", sa.BigInteger, nullable=False),
    sa.Column("at_ms", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("event_id"),
    sa.Index(None, "member_id"),
    sa.Index(None, "serving_store_id", "at_ms"),
)
"""Cross-store service (``coordinator.services.cross_store``): a store serving a member of
another store — which store served, the member's home store, who, what and for how much."""

users = sa.Table(
    "users",
    metadata,
    sa.Column("username", sa.String(ID), primary_key=True),
    sa.Column("password_hash", sa.String(300), nullable=False),
    sa.Column("role", sa.String(20), nullable=False),
    sa.Column("store_id", sa.String(ID), nullable=True),
    sa.Column("disabled", sa.Boolean, nullable=False, default=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    # Tokens and dashboard sessions issued before this instant are refused (set on disable).
    sa.Column("tokens_after_ms", sa.BigInteger, nullable=True),
    sa.Column("pin_hash", sa.String(300), nullable=True),
    # The staff member's kiosk PIN (shared.password_hash), pushed to their store's kiosks in
    # the rule bundle; NULL: no PIN (migration 0009).
    sa.Column("card_hash", sa.String(120), nullable=True),
    # The staff member's NFC staff card as a keyed hash of its UID (shared.staff_cards),
    # pushed to their store's kiosks in the rule bundle; NULL: no card (migration 0023).
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", BigInt, primary_key=True, autoincrement=True),
    sa.Column("at_ms", sa.BigInteger, nullable=False),
    sa.Column("actor", sa.String(ID), nullable=False),
    sa.Column("action", sa.String(60), nullable=False),
    sa.Column("target", sa.String(200), nullable=False),
    sa.Column("detail", sa.Text, nullable=False, default="{}"),
    sa.Index(None, "target"),
)

notifications = sa.Table(
    "notifications",
    metadata,
    # Outbound notifications to members (birthday greeting, waitlist seat, one-time code...),
    # written in the transaction that decided them; delivered later (webhooks), at least once.
    sa.Column("id", BigInt, primary_key=True, autoincrement=True),
    sa.Column("notification_id", sa.String(32), nullable=False),
    sa.Column("dedupe_key", sa.String(200), nullable=False),
    sa.Column("kind", sa.String(60), nullable=False),
    sa.Column("member_id", sa.String(ID), nullable=True),
    sa.Column("store_id", sa.String(ID), nullable=True),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("notification_id"),
    sa.UniqueConstraint("dedupe_key"),
    sa.Index(None, "member_id", "created_ms"),
)

login_failures = sa.Table(
    "login_failures",
    metadata,
    # Failed logins and enrollments within the rate limit's window (security/login_limit),
    # shared by every replica; rows past the window are deleted as new failures arrive.
    sa.Column("id", BigInt, primary_key=True, autoincrement=True),
    sa.Column("scope", sa.String(16), nullable=False),
    sa.Column("key", sa.String(300), nullable=False),
    sa.Column("at_ms", sa.BigInteger, nullable=False),
    sa.Index(None, "scope", "key", "at_ms"),
    sa.Index(None, "scope", "at_ms"),
)

# --- outbound webhooks (migration 0012) -------------------------------------------------------
# Standard Webhooks 1.0: endpoints the chain registers, one delivery row per (endpoint,
# message) taken with row locks, and one attempt row per HTTP request (the delivery log).

webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("endpoint_id", sa.String(32), primary_key=True),
    sa.Column("url", sa.String(2000), nullable=False),
    # None: chain-wide (every store's messages and those of no store).
    sa.Column("store_id", sa.String(ID), nullable=True),
    # JSON list of subscribed event types ("notification.*" style wildcards); [] = all.
    sa.Column("event_types", sa.Text, nullable=False),
    # JSON list of {"secret": "whsec_...", "expires_ms": int | null}: every live one signs.
    sa.Column("secrets", sa.Text, nullable=False),
    sa.Column("description", sa.String(200), nullable=False, default=""),
    sa.Column("enabled", sa.Boolean, nullable=False),
    sa.Column("disabled_reason", sa.String(200), nullable=False, default=""),
    sa.Column("failing_since_ms", sa.BigInteger, nullable=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", BigInt, primary_key=True, autoincrement=True),
    sa.Column("endpoint_id", sa.String(32), nullable=False),
    # The webhook-id header: the same for every attempt and every endpoint of one message.
    sa.Column("message_id", sa.String(64), nullable=False),
    sa.Column("event_type", sa.String(80), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    # pending | delivered | failed (gave up after the retry window)
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_ms", sa.BigInteger, nullable=False),
    sa.Column("give_up_ms", sa.BigInteger, nullable=False),
    # A replica that took the row owns it until lease_ms (a crashed one's rows come back).
    sa.Column("lease_ms", sa.BigInteger, nullable=False, default=0),
    sa.Column("lease_token", sa.String(32), nullable=False, default=""),
    sa.Column("last_status_code", sa.Integer, nullable=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("done_ms", sa.BigInteger, nullable=True),
    sa.UniqueConstraint("endpoint_id", "message_id"),
    sa.Index(None, "status", "next_attempt_ms"),
)

webhook_attempts = sa.Table(
    "webhook_attempts",
    metadata,
    sa.Column("id", BigInt, primary_key=True, autoincrement=True),
    sa.Column("delivery_id", sa.BigInteger, nullable=False),
    sa.Column("attempt_no", sa.Integer, nullable=False),
    sa.Column("at_ms", sa.BigInteger, nullable=False),
    # ok | http_error | timeout | connect_error | refused_target
    sa.Column("outcome", sa.String(20), nullable=False),
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("duration_ms", sa.Integer, nullable=False),
    sa.Column("detail", sa.String(500), nullable=False, default=""),
    sa.Index(None, "delivery_id", "attempt_no"),
)

automation_runs = sa.Table(
    "automation_runs",
    metadata,
    # One row per automation, member and occasion: the unique key is what makes an
    # automation act at most once per occasion across restarts and replicas.
    sa.Column("id", BigInt, primary_key=True, autoincrement=True),
    sa.Column("automation_id", sa.String(40), nullable=False),
    sa.Column("member_id", sa.String(ID), nullable=False),
    sa.Column("occasion", sa.String(160), nullable=False),
    sa.Column("at_ms", sa.BigInteger, nullable=False),
    # JSON: what it did (coupon id, points, tag, notification id).
    sa.Column("result", sa.Text, nullable=False),
    sa.UniqueConstraint("automation_id", "member_id", "occasion"),
    sa.Index(None, "automation_id", "at_ms"),
)

report_rollups = sa.Table(
    "report_rollups",
    metadata,
    # Per store and hour, the sums the reports need (coordinator/reports/rollups.py), written
    # in the transaction that stores the events; equal to a recomputation from the events.
    sa.Column("store_id", sa.String(ID), primary_key=True),
    # The event's store ("" for an HQ fact without one).
    sa.Column("hour", sa.BigInteger, primary_key=True),
    # hlc_ms // 3,600,000
    sa.Column("metric", sa.String(24), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
    sa.Index(None, "hour", "store_id"),
)

ROLLUP_DAY_METRICS = (
    "checkins",
    "class_signins",
    "sessions_used",
    "points_earned",
    "points_redeemed",
    "points_facts",
    "sv_topped_up_fen",
    "sv_bonus_fen",
    "sv_spent_fen",
    "sv_refunded_fen",
    "purchases",
    "purchase_total_fen",
)
"""The hourly rollup metrics a store-day row also sums (``coordinator/reports/rollups.py``)."""
ROLLUP_DAY_HOURS = tuple(
    f"{metric}_h{hour:02d}" for metric in ("checkins", "class_signins") for hour in range(24)
)
"""A store-day row's check-ins and class sign-ins per local hour of the day (the report's
hour-of-day table over any run of days)."""

report_rollup_days = sa.Table(
    "report_rollup_days",
    metadata,
    # Per store and store-local day, one wide row: the sums of the hourly rollups of that day
    # (coordinator/reports/rollups.py), written with them; what a month's report reads.
    sa.Column("store_id", sa.String(ID), primary_key=True),
    # A registered store (HQ facts and unregistered stores have hour rows only).
    sa.Column("day", sa.Integer, primary_key=True),
    # The store-local date (its zone; a store's zone never changes) as days since 1970-01-01.
    *(
        sa.Column(name, sa.BigInteger, nullable=False, server_default="0")
        for name in ROLLUP_DAY_METRICS + ROLLUP_DAY_HOURS
    ),
    sa.Index(None, "day"),
    # A chain's report reads every store's rows of a run of days.
)

reject_counters = sa.Table(
    "reject_counters",
    metadata,
    sa.Column("kiosk_key", sa.String(ID), primary_key=True),
    # The kiosk id when it is registered, ``_unknown`` otherwise (bounded cardinality).
    sa.Column("reason", sa.String(40), primary_key=True),
    sa.Column("count", sa.BigInteger, nullable=False),
    sa.Column("first_ms", sa.BigInteger, nullable=False),
    sa.Column("last_ms", sa.BigInteger, nullable=False),
    sa.Column("last_topic", sa.String(300), nullable=False, default=""),
    sa.Column("last_detail", sa.Text, nullable=False, default=""),
)


# --- the ops dashboard's tables (migration 0002) ---------------------------------------------
# They hold only what the dashboard derives; the ledger never reads them.

kiosk_facts = sa.Table(
    "kiosk_facts",
    metadata,
    sa.Column("kiosk_id", sa.String(ID), primary_key=True),
    sa.Column("facts", sa.Text, nullable=False),
    sa.Column("change_no", sa.BigInteger, nullable=False),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
)
"""The facts last recorded per kiosk (alive, connected, in sync, readers, software, the time
each version lag began), so changes are written once: every writer compares-and-sets on
``change_no``, and only the winner writes the timeline row."""

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
"""Each change of a kiosk's facts and alerts, with the time it happened."""

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
"""One row per (kiosk, alert kind) with its hysteresis state."""

version_marks = sa.Table(
    "version_marks",
    metadata,
    sa.Column("name", sa.String(16), primary_key=True),
    sa.Column("version", sa.BigInteger, primary_key=True),
    sa.Column("first_seen_ms", sa.BigInteger, nullable=False),
)
"""When the coordinator first saw each deny-list / members version (to say how long a kiosk
has been behind)."""

rollout_targets = sa.Table(
    "rollout_targets",
    metadata,
    sa.Column("campaign_id", sa.String(ID), primary_key=True),
    sa.Column("members_version", sa.BigInteger, nullable=False),
    sa.Column("member_count", sa.Integer, nullable=False),
    sa.Column("resolved_ms", sa.BigInteger, nullable=False),
)
"""The members version that carried a coupon campaign to the kiosks."""

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("scope", sa.String(80), primary_key=True),
    # The route and the caller: one client's key never answers another's request.
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("request_hash", sa.String(64), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    # running (the first request holds it) or done (its answer is kept).
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("response", sa.Text, nullable=True),
    sa.Column("created_ms", sa.BigInteger, nullable=False),
    sa.Column("expires_ms", sa.BigInteger, nullable=False),
    sa.Index(None, "expires_ms"),
)
"""``Idempotency-Key`` requests (purchases): a retry gets the first answer, kept >= 24 h."""

# --- stream epochs and lost ranges (migration 0014) -------------------------------------------

kiosk_streams = sa.Table(
    "kiosk_streams",
    metadata,
    sa.Column("kiosk_id", sa.String(ID), primary_key=True),
    sa.Column("epoch", sa.BigInteger, primary_key=True),
    sa.Column("start_seq", sa.BigInteger, nullable=False),
    # A kiosk's seq continues across epochs: epoch n+1 starts above everything epoch n was
    # heard to hold, so (kiosk, seq) stays unique and snapshots' included_seq stays meaningful.
    sa.Column("heard_seq", sa.BigInteger, nullable=False),
    # The highest seq this epoch's ledger said it holds (sync, heartbeat, events).
    sa.Column("ledger_id", sa.String(32), nullable=True),
    # The ledger file this epoch was handed to (NULL: not yet claimed, or epoch 0).
    sa.Column("opened_ms", sa.BigInteger, nullable=False),
    sa.Column("opened_by", sa.String(ID), nullable=False),
    sa.Column("closed_ms", sa.BigInteger, nullable=True),
    sa.Column("closed_applied_seq", sa.BigInteger, nullable=True),
    sa.Column("refused_reason", sa.String(40), nullable=True),
    # Set while this epoch's current ledger is refused (fresh or older copy, wrong epoch).
    sa.Column("refused_detail", sa.Text, nullable=True),
    sa.Column("refused_ms", sa.BigInteger, nullable=True),
)
"""Each kiosk's stream epochs. No row for a kiosk means epoch 0 from seq 1 (never
re-provisioned); the highest epoch is the current one."""

lost_ranges = sa.Table(
    "lost_ranges",
    metadata,
    sa.Column("id", BigInt, primary_key=True, autoincrement=True),
    sa.Column("kiosk_id", sa.String(ID), nullable=False),
    sa.Column("epoch", sa.BigInteger, nullable=False),
    sa.Column("first_seq", sa.BigInteger, nullable=False),
    sa.Column("last_seq", sa.BigInteger, nullable=False),
    sa.Column("recorded_ms", sa.BigInteger, nullable=False),
    sa.Column("recorded_by", sa.String(ID), nullable=False),
    sa.Column("note", sa.Text, nullable=False, default=""),
    sa.Index(None, "kiosk_id", "first_seq"),
)
"""Seqs of a closed epoch its ledger was heard to hold but never delivered: reported, and
stepped over by the sequencer (nothing waits for them any more)."""
# Staged software updates (device/updater.py): what each channel offers now, and which
# channel each store's kiosks follow (a store without a row follows "stable").
software_channels = sa.Table(
    "software_channels",
    metadata,
    sa.Column("channel", sa.String(40), primary_key=True),
    sa.Column("version", sa.String(40), nullable=False),
    sa.Column("wheel_url", sa.String(500), nullable=False),
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("percentage", sa.Integer, nullable=False),
    sa.Column("previous_version", sa.String(40), nullable=True),
    sa.Column("updated_ms", sa.BigInteger, nullable=False),
    sa.Column("updated_by", sa.String(ID), nullable=False),
)

store_software_channels = sa.Table(
    "store_software_channels",
    metadata,
    sa.Column("store_id", sa.String(ID), sa.ForeignKey("stores.store_id"), primary_key=True),
    sa.Column("channel", sa.String(40), nullable=False),
)
