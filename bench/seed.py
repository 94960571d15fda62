"""Building big starting states fast, through the projects' own schemas and code paths.

* :func:`seed_coordinator` — migrates a coordinator SQLite ledger with its Alembic
  migrations, runs the coordinator's own first-start ``bootstrap()``, then bulk-inserts
  stores, kiosks, members (registry row, folded state row at members version 1, active
  card) and optionally events, with one ``executemany`` per table in one transaction
  (the HTTP API would take one request and one fsync per row: minutes for 100,000).
* :func:`kiosk_journal` — appends events to a kiosk ledger's journal in one transaction,
  with ``device.ledger.journal.append`` itself (the same code a tap uses, minus the
  per-tap fsync), as ``tests/link/ledgers.py`` does.
* :func:`member_ledger` / :func:`bundle` — realistic member records and rules.
"""

from __future__ import annotations

import random
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from shared.events import CheckIn, CredentialKind, CredentialRef, Event, EventBody
from shared.model import (
    ClassSession,
    MemberLedger,
    PassKind,
    PassState,
    PointsLot,
    Reward,
    RuleBundle,
    Rules,
)
from shared.money import StoredValue

DAY = 86_400_000
MIN = 60_000


def card_uid(i: int) -> str:
    """The 7-byte card UID of member number ``i`` (upper-case hex)."""
    return f"04{i:012X}"


def member_id(i: int) -> str:
    """Member number ``i``'s id."""
    return f"m{i:07d}"


def member_ledger(now_ms: int, rng: random.Random | None = None) -> MemberLedger:
    """A plausible regular's ledger: a 20-session punch pass, points lots, ¥500 stored value."""
    rng = rng or random.Random(0)
    used = rng.randrange(0, 10)
    return MemberLedger(
        points_lots=tuple(
            PointsLot(
                lot_id=f"lot{k}",
                earned_ms=now_ms - (k + 1) * 7 * DAY,
                expires_ms=now_ms + 300 * DAY,
                amount=10,
                remaining=10,
            )
            for k in range(5)
        ),
        passes=(
            PassState(
                pass_id="p-punch",
                kind=PassKind.PUNCH,
                name="20-session yoga pass",
                class_types=("yoga",),
                valid_from_ms=now_ms - 30 * DAY,
                valid_until_ms=now_ms + 300 * DAY,
                sessions_total=20,
                sessions_used=used,
            ),
        ),
        checkins=rng.randrange(5, 60),
        points_earned_total=50,
        last_checkin_ms=now_ms - 2 * DAY,
        stored_value=StoredValue(principal_fen=50_000, topped_up_fen=50_000),
    )


def yoga_class(store_id: str, now_ms: int) -> ClassSession:
    """A class starting in ten minutes (its sign-in window is open now)."""
    return ClassSession(
        class_session_id="yoga-now",
        class_type="yoga",
        store_id=store_id,
        title_zh="流瑜伽",
        title_en="Flow yoga",
        starts_ms=now_ms + 10 * MIN,
        ends_ms=now_ms + 70 * MIN,
        capacity=100_000,
    )


def bundle(store_id: str, now_ms: int, version: int = 1) -> RuleBundle:
    """Rules with an open class and a small reward catalogue."""
    return RuleBundle(
        version=version,
        rules=Rules(),
        classes=(yoga_class(store_id, now_ms),),
        rewards=(Reward(reward_id="water", title_zh="矿泉水", title_en="Water", points_cost=20),),
    )


# --- coordinator -----------------------------------------------------------------------------


def _insert_sql(table: object, columns: Sequence[str]) -> str:
    name = table.name  # type: ignore[attr-defined]
    marks = ", ".join("?" * len(columns))
    return f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({marks})"  # noqa: S608


def seed_coordinator(
    db_path: Path,
    *,
    stores: Sequence[str],
    kiosks: Sequence[tuple[str, str]],
    members: int,
    now_ms: int,
    events: Iterable[tuple[object, ...]] = (),
    applied_seq: dict[str, int] | None = None,
    kiosk_health_rows: Iterable[tuple[object, ...]] = (),
    home_store: Callable[[int], str | None] | None = None,
) -> None:
    """A migrated, bootstrapped coordinator ledger with the fleet and members bulk-inserted.

    ``events`` rows follow :data:`EVENT_COLUMNS`; ``kiosk_health_rows`` follow
    :data:`HEALTH_COLUMNS` (kiosks without one get an empty health row, as provisioning does).
    ``home_store`` gives member number ``i`` its home store (default: none).
    """
    from coordinator import schema
    from coordinator.db import Database
    from coordinator.runtime import Coordinator
    from coordinator.settings import CoordinatorSettings

    url = f"sqlite:///{db_path}"
    db = Database(url)
    try:
        db.migrate()
        settings = CoordinatorSettings(dev_mode=True, database_url=url, mqtt_enabled=False)
        Coordinator(settings, database=db).bootstrap()
    finally:
        db.dispose()
    ledger_json = member_ledger(now_ms).model_dump_json()
    home = home_store or (lambda _i: None)
    conn = sqlite3.connect(db_path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            _insert_sql(schema.stores, ("store_id", "name", "timezone", "created_ms")),
            [(s, f"Store {s}", "Asia/Shanghai", now_ms) for s in stores],
        )
        applied = applied_seq or {}
        conn.executemany(
            _insert_sql(
                schema.kiosks,
                (
                    "kiosk_id",
                    "store_id",
                    "name",
                    "revoked",
                    "created_ms",
                    "applied_seq",
                    "poisoned_count",
                ),
            ),
            [(k, s, k, 0, now_ms, applied.get(k, 0), 0) for k, s in kiosks],
        )
        health = list(kiosk_health_rows)
        with_health = {row[0] for row in health}
        health += [
            (k,) + (None,) * (len(HEALTH_COLUMNS) - 1) for k, _ in kiosks if k not in with_health
        ]
        conn.executemany(_insert_sql(schema.kiosk_health, HEALTH_COLUMNS), health)
        conn.executemany(
            _insert_sql(
                schema.members,
                (
                    "member_id",
                    "display_name",
                    "full_name",
                    "phone",
                    "status",
                    "lang",
                    "home_store_id",
                    "created_ms",
                ),
            ),
            (
                (member_id(i), "李*华", "", "", "active", "zh", home(i), now_ms)
                for i in range(members)
            ),
        )
        conn.executemany(
            _insert_sql(
                schema.member_states,
                (
                    "member_id",
                    "ledger",
                    "tier",
                    "last_hlc_ms",
                    "last_hlc_c",
                    "last_source",
                    "last_seq",
                    "event_count",
                    "recomputes",
                    "change_no",
                    "dirty",
                    "version",
                    "updated_ms",
                ),
            ),
            (
                (member_id(i), ledger_json, "basic", 0, 0, "", 0, 0, 0, 0, 0, 1, now_ms)
                for i in range(members)
            ),
        )
        conn.executemany(
            _insert_sql(schema.cards, ("uid", "member_id", "status", "bound_ms")),
            ((card_uid(i), member_id(i), "active", now_ms) for i in range(members)),
        )
        conn.execute(
            "UPDATE counters SET value = ? WHERE name = 'members_version'", (1 if members else 0,)
        )
        conn.executemany(_insert_sql(schema.events, EVENT_COLUMNS), events)
        conn.execute(FILL_POINTS)
        conn.execute(FILL_CLASS_SIGNINS)
        conn.execute(FILL_STAFF)
        conn.execute("COMMIT")
    finally:
        conn.close()
    _rebuild_rollups(url)


def _rebuild_rollups(url: str) -> None:
    """The report rollups of the bulk-inserted events (the coordinator keeps them as it
    stores events; rows inserted here bypass that)."""
    from coordinator.db import Database
    from coordinator.reports.rollups import rebuild

    db = Database(url)
    try:
        with db.write() as conn:
            rebuild(conn)
    finally:
        db.dispose()


EVENT_COLUMNS = (
    "event_id",
    "source",
    "seq",
    "store_id",
    "member_id",
    "kind",
    "hlc_ms",
    "hlc_c",
    "wall_ms",
    "received_ms",
    "offline",
    "quarantined",
    "body",
)
FILL_POINTS = (
    "UPDATE events SET points = json_extract(body, '$.body.points') "
    "WHERE kind IN ('checkin', 'points_redeem', 'reversal')"
)
FILL_CLASS_SIGNINS = (
    "UPDATE events SET class_session_id = json_extract(body, '$.body.class_session_id'), "
    "sessions = json_extract(body, '$.body.sessions') WHERE kind = 'class_signin'"
)
FILL_STAFF = (
    "UPDATE events SET staff_id = coalesce(json_extract(body, '$.body.staff_id'), "
    "json_extract(body, '$.body.staff_user'), json_extract(body, '$.credential.staff_id'))"
)
"""The columns the coordinator writes with each row (``report_columns``), filled the way
its migrations 0004, 0006 and 0024 fill older rows."""
HEALTH_COLUMNS = (
    "kiosk_id",
    "status_state",
    "status_at_ms",
    "status_received_ms",
    "heartbeat",
    "heartbeat_received_ms",
    "heartbeat_interval_s",
    "sync_received_ms",
    "reported_versions",
    "reported_last_seq",
    "last_good_tap_ms",
)


def event_row(event: Event, received_ms: int) -> tuple[object, ...]:
    """An ``events`` row (:data:`EVENT_COLUMNS`) for a stored, folded event."""
    return (
        event.event_id,
        event.kiosk_id,
        event.seq,
        event.store_id,
        event.member_id,
        event.kind,
        event.hlc_ms,
        event.hlc_c,
        event.wall_ms,
        received_ms,
        int(event.offline),
        0,
        event.model_dump_json(),
    )


# --- kiosk -----------------------------------------------------------------------------------


def checkins(
    kiosk_id: str, store_id: str, member_numbers: Sequence[int], count: int, end_ms: int
) -> Iterator[tuple[str, EventBody, int]]:
    """(member id, body, wall ms) of ``count`` check-ins of the given members, 100 ms apart,
    the last one at ``end_ms`` (an outage's worth of taps, none from the future)."""
    rng = random.Random(hash((kiosk_id, count)) & 0xFFFF)
    for i in range(count):
        at = end_ms - (count - 1 - i) * 100
        yield member_id(rng.choice(member_numbers)), CheckIn(points=0), at


def kiosk_journal(
    ledger_path: Path,
    kiosk_id: str,
    store_id: str,
    facts: Iterable[tuple[str, EventBody, int]],
    now_ms: int,
) -> int:
    """Create the ledger (if needed) and append ``facts`` as unacknowledged events.

    One transaction, ``device.ledger.journal.append`` per event; returns the last seq.
    """
    from device.ledger import journal
    from device.ledger.database import open_database, write_transaction
    from shared.hlc import tick

    conn = open_database(ledger_path, kiosk_id, store_id, now_ms)
    try:
        with write_transaction(conn):
            state = journal.read_state(conn)
            for member, body, wall in facts:
                uid = card_uid(int(member[1:]))
                journal.append(
                    conn,
                    state,
                    [body],
                    first_hlc=tick(state.hlc, wall),
                    wall_ms=wall,
                    member_id=member,
                    credential=CredentialRef(kind=CredentialKind.CARD, uid=uid),
                    offline=True,
                    rules_version=1,
                )
            journal.write_state(conn, state)
            return state.last_seq
    finally:
        conn.close()


def new_event_id() -> str:
    """A fresh event id."""
    return uuid.uuid4().hex


def provision_ledger(
    path: Path,
    kiosk_id: str,
    store_id: str,
    members: int,
    now_ms: int,
    *,
    included_seq: int = 0,
    with_class: bool = False,
) -> object:
    """Open the kiosk ledger and bring it to "synced": rules, then a full member snapshot.

    Goes through the ledger's own downstream methods (``apply_rule_bundle`` and
    ``apply_member_update`` with chunks of 2,000, as the coordinator sends them). Returns
    the open ``KioskLedger``.
    """
    from device.ledger import KioskLedger
    from device.ports import SystemClock
    from shared.model import MemberRecord
    from shared.protocol import MAX_SNAPSHOT_CHUNK_MEMBERS, MemberUpdate, RuleBundleMessage

    ledger = KioskLedger.open(path, kiosk_id=kiosk_id, store_id=store_id, clock=SystemClock())
    rules = bundle(store_id, now_ms)
    if not with_class:
        rules = rules.model_copy(update={"classes": ()})
    ledger.apply_rule_bundle(RuleBundleMessage(bundle=rules))
    rng = random.Random(2)
    size = MAX_SNAPSHOT_CHUNK_MEMBERS
    chunks = max(1, -(-members // size))
    for k in range(chunks):
        records = tuple(
            MemberRecord(
                member_id=member_id(i),
                display_name="李*华",
                cards=(card_uid(i),),
                ledger=member_ledger(now_ms, rng),
            )
            for i in range(k * size, min(members, (k + 1) * size))
        )
        ledger.apply_member_update(
            MemberUpdate(
                store_id=store_id,
                version=1,
                full=True,
                chunk=k,
                chunks=chunks,
                members=records,
                included_seq={kiosk_id: included_seq},
            )
        )
    return ledger
