"""Tap decision: ``KioskLedger.tap_card`` on a big ledger, vs one durable SQLite commit.

Tapfleet: a kiosk ledger with 100,000 members cached and 1,000,000 journaled events. Each
sample is one ``tap_card(uid)`` of a different member: card lookup, deny-list, the member's
record and pending events, ``shared.decide.decide_tap``, the journal append and the commit
(WAL, ``synchronous=FULL``). The first half are check-ins; then a rule bundle with an open
class arrives and the second half are class sign-ins deducting a punch-pass session (plus
the day's check-in reward: two events). The ledger is online, and every 50 taps (untimed)
an empty member delta confirms its events, as the coordinator's pushes do. Then as many
stored-value charges as half the taps (``KioskLedger.spend_stored_value``, ¥15 each from
other members' ¥500 balances) are measured the same way against the same target; the line
reports both and passes only when both do.

Baseline: one durable SQLite commit on the same disk, same settings: ``BEGIN IMMEDIATE``,
insert one event-sized row, update one counter row, ``COMMIT``. Samples alternate with the
taps, so both see the same disk and CPU noise. The line also gives each side's CPU time
(``time.thread_time``: the Python and SQLite work without the wait for the disk): a tap's
p99 cannot fall below its own CPU time plus one commit's wait.

How the big ledger is built fast (the ledger's own schema and code, without 1,000,000
fsyncs): ``device.ledger.database.open_database`` creates the file with the recorded
migrations; the journal rows go in with one ``executemany`` in one transaction (payloads
are real ``Event`` JSON, the indexed columns filled as ``journal.append`` fills them) and
the kiosk row is written with ``journal.write_state``; then the members arrive the way a
coordinator sends them, as 50 snapshot chunks of 2,000 through ``apply_member_update``,
folding everything but the last 1,000 events (those stay pending, as after a short outage).
The benchmark process then tunes its garbage collector as ``tapfleet kiosk`` does once
started (``device.kiosk_cli.tune_gc``): here it is the kiosk process.
"""

from __future__ import annotations

import cProfile
import io
import json
import pstats
import random
import sqlite3
import sys
import time
import uuid
from pathlib import Path

from bench.common import Result, emit, ms, parse_args, percentile, progress, work_dir
from bench.seed import DAY, bundle, card_uid, member_id, provision_ledger

NAME = "tap_decision"
KIOSK = "k-bench"
STORE = "s-bench"


def build_journal(path: Path, members: int, events: int, pending: int, now_ms: int) -> None:
    """The kiosk file with ``events`` journal rows; the last ``pending`` unacknowledged."""
    from device.ledger import journal
    from device.ledger.database import open_database, write_transaction
    from shared.events import CheckIn, ClassSignIn, CredentialKind, CredentialRef, Event, Rejected
    from shared.hlc import HLC

    def template(body: object) -> dict[str, object]:
        event = Event(
            event_id=uuid.uuid4().hex,
            kiosk_id=KIOSK,
            store_id=STORE,
            seq=1,
            hlc_ms=now_ms,
            wall_ms=now_ms,
            member_id="m0",
            offline=False,
            rules_version=1,
            credential=CredentialRef(kind=CredentialKind.CARD, uid=card_uid(0)),
            body=body,  # type: ignore[arg-type]
        )
        return event.model_dump(mode="json")

    kinds = [
        ("checkin", template(CheckIn(points=10, reward_day="2026-01-01")), 0, None),
        (
            "class_signin",
            template(
                ClassSignIn(class_session_id="yoga-old", class_type="yoga", pass_id="p-punch")
            ),
            1,
            "yoga-old",
        ),
        ("rejected", template(Rejected(reason="already_checked_in")), 0, None),
    ]
    weights = [6, 3, 1]
    rng = random.Random(1)
    step = max(1, 200 * DAY // max(1, events))
    first_hlc = now_ms - events * step

    def rows():  # type: ignore[no-untyped-def]
        for seq in range(1, events + 1):
            kind, tmpl, sessions, class_id = rng.choices(kinds, weights)[0]
            n = rng.randrange(members)
            event_id = uuid.uuid4().hex
            hlc = first_hlc + seq * step
            body = dict(tmpl)
            body.update(
                event_id=event_id,
                seq=seq,
                hlc_ms=hlc,
                wall_ms=hlc,
                member_id=member_id(n),
                credential={"kind": "card", "uid": card_uid(n)},
            )
            yield (
                seq,
                event_id,
                seq,
                member_id(n),
                kind,
                hlc,
                0,
                hlc,
                0,
                sessions,
                0,
                None,
                class_id,
                json.dumps(body, separators=(",", ":"), ensure_ascii=False),
                1 if seq <= events - pending else 0,
            )

    conn = open_database(path, KIOSK, STORE, now_ms)
    try:
        with write_transaction(conn):
            conn.executemany(
                "INSERT INTO journal (seq, event_id, decision_seq, member_id, kind, hlc_ms, hlc_c,"
                " wall_ms, offline, d_sessions, d_points, target_event_id, class_session_id,"
                " payload, acked) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows(),
            )
            state = journal.read_state(conn)
            state.last_seq = events
            state.acked_seq = events - pending
            state.hlc = HLC(first_hlc + events * step, 0)
            journal.write_state(conn, state)
    finally:
        conn.close()


def provision(path: Path, members: int, events: int, pending: int, now_ms: int) -> object:
    """Open the ledger, give it rules (no open class yet) and the member snapshot; online."""
    from device.kiosk_cli import tune_gc

    ledger = provision_ledger(path, KIOSK, STORE, members, now_ms, included_seq=events - pending)
    ledger.set_online(True)  # type: ignore[attr-defined]
    tune_gc()  # this process is the kiosk here: set up as ``tapfleet kiosk`` sets up its own
    return ledger


def baseline_db(path: Path) -> sqlite3.Connection:
    """The baseline's database: WAL, synchronous=FULL, an event table and a counter."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE log (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
    conn.execute("CREATE TABLE counter (id INTEGER PRIMARY KEY, value INTEGER NOT NULL)")
    conn.execute("INSERT INTO counter VALUES (1, 0)")
    return conn


def commit_once(conn: sqlite3.Connection, payload: str) -> None:
    """The baseline sample: one insert + one update, one durable commit."""
    conn.execute("BEGIN IMMEDIATE")
    conn.execute("INSERT INTO log (payload) VALUES (?)", (payload,))
    conn.execute("UPDATE counter SET value = value + 1 WHERE id = 1")
    conn.execute("COMMIT")


def confirm(ledger: object, version: int) -> int:
    """What the coordinator's push cycle does while online (untimed, between samples): an
    empty member delta saying it folded everything up to our last seq. Without it the
    kiosk-wide cap on unconfirmed sessions (300 by default) would refuse deductions."""
    from shared.protocol import MemberUpdate

    last = ledger.outbox_stats().last_seq  # type: ignore[attr-defined]
    ledger.apply_member_update(  # type: ignore[attr-defined]
        MemberUpdate(
            store_id=STORE,
            version=version + 1,
            base_version=version,
            full=False,
            included_seq={KIOSK: last},
        )
    )
    return version + 1


def run(
    members: int, events: int, pending: int, taps: int, keep: bool, cprofile: bool = False
) -> Result:
    """Build, then measure ``taps`` taps alternating with as many baseline commits."""
    from shared.protocol import RuleBundleMessage

    now = time.time_ns() // 1_000_000
    with work_dir(NAME, keep) as folder:
        path = folder / "ledger.db"
        started = time.monotonic()
        progress(NAME, f"building the journal: {events:,} events")
        build_journal(path, members, events, pending, now)
        progress(NAME, f"snapshot of {members:,} members")
        ledger = provision(path, members, events, pending, now)
        progress(NAME, f"ledger built in {time.monotonic() - started:.0f} s; measuring")
        base = baseline_db(folder / "baseline.db")
        payload = "x" * 700
        order = random.Random(3).sample(range(members), taps)
        tap_s: list[float] = []
        base_s: list[float] = []
        tap_cpu: list[float] = []
        base_cpu: list[float] = []
        accepted = 0
        kinds: dict[str, int] = {}
        version = 1
        profiler = cProfile.Profile() if cprofile else None
        try:
            for n, i in enumerate(order):
                if n % 50 == 0:
                    version = confirm(ledger, version)
                if n == taps // 2:
                    ledger.apply_rule_bundle(  # type: ignore[attr-defined]
                        RuleBundleMessage(bundle=bundle(STORE, now, version=2))
                    )
                if profiler is not None:
                    profiler.enable()
                c0, t0 = time.thread_time(), time.perf_counter()
                outcome = ledger.tap_card(card_uid(i))  # type: ignore[attr-defined]
                c1, t1 = time.thread_time(), time.perf_counter()
                if profiler is not None:
                    profiler.disable()
                commit_once(base, payload)
                c2, t2 = time.thread_time(), time.perf_counter()
                tap_s.append(t1 - t0)
                base_s.append(t2 - t1)
                tap_cpu.append(c1 - c0)
                base_cpu.append(c2 - c1)
                accepted += int(outcome.accepted)
                for event in outcome.events:
                    kinds[event.kind] = kinds.get(event.kind, 0) + 1
            charge_s, charge_base_s, charged = charges(
                ledger, base, payload, members, taps, version
            )
        finally:
            base.close()
            ledger.close()  # type: ignore[attr-defined]
        if profiler is not None:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(35)
            print(out.getvalue(), file=sys.stderr)

    p50, p99 = percentile(tap_s, 50), percentile(tap_s, 99)
    b50, b99 = percentile(base_s, 50), percentile(base_s, 99)
    c50, c99 = percentile(charge_s, 50), percentile(charge_s, 99)
    cb99 = percentile(charge_base_s, 99)
    tap_ratio, charge_ratio = p99 / b99, c99 / cb99
    made = ", ".join(f"{v} {k}" for k, v in sorted(kinds.items()))
    return Result(
        name=NAME,
        tapfleet=(
            f"p50 {ms(p50)} p99 {ms(p99)} ({taps} taps, {accepted} accepted: {made}; "
            f"{members:,} members, {events:,} events); stored-value charges p50 {ms(c50)} "
            f"p99 {ms(c99)} ({len(charge_s)} charges, {charged} accepted; "
            f"p99 {charge_ratio:.3f}x its baseline p99 {ms(cb99)}); a tap's CPU time p50 "
            f"{ms(percentile(tap_cpu, 50))} p99 {ms(percentile(tap_cpu, 99))}"
        ),
        baseline=(
            f"p50 {ms(b50)} p99 {ms(b99)} (SQLite insert+update commit, WAL, FULL, same disk; "
            f"its CPU time p50 {ms(percentile(base_cpu, 50))} p99 {ms(percentile(base_cpu, 99))})"
        ),
        ratio=max(tap_ratio, charge_ratio),
        target="p99 <= 2x baseline p99 (taps and charges)",
        passed=tap_ratio <= 2.0
        and charge_ratio <= 2.0
        and accepted == taps
        and charged == len(charge_s),
    )


def charges(
    ledger: object, base: sqlite3.Connection, payload: str, members: int, taps: int, version: int
) -> tuple[list[float], list[float], int]:
    """``taps // 2`` stored-value charges of ¥15 by other members, alternating with baseline
    commits (confirmed every 50, untimed); returns (charge s, baseline s, accepted)."""
    order = random.Random(4).sample(range(members), max(1, taps // 2))
    charge_s: list[float] = []
    base_s: list[float] = []
    accepted = 0
    for n, i in enumerate(order):
        if n % 50 == 0:
            version = confirm(ledger, version)
        t0 = time.perf_counter()
        outcome = ledger.spend_stored_value(member_id(i), 1_500, purpose="bench")  # type: ignore[attr-defined]
        t1 = time.perf_counter()
        commit_once(base, payload)
        t2 = time.perf_counter()
        charge_s.append(t1 - t0)
        base_s.append(t2 - t1)
        accepted += int(outcome.accepted)
    return charge_s, base_s, accepted


def main() -> None:
    """Entry point."""
    args = parse_args(__doc__ or NAME, cprofile=True)
    sizes = (2_000, 20_000, 100, 40) if args.quick else (100_000, 1_000_000, 1_000, 2_000)
    emit(run(*sizes, keep=args.keep, cprofile=args.cprofile))


if __name__ == "__main__":
    main()
