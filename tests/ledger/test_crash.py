"""kill -9 at random moments: no printed tap is lost or doubled, nothing is half-applied.

A real process (``python -m device.ledger.crashprobe``) runs the ledger on a real file and
prints one line per committed request. The test streams taps into it, SIGKILLs it at random
points over several rounds, restarts it, and finally checks the file against every line the
process ever printed.
"""

from __future__ import annotations

import json
import queue
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import IO, Any

import pytest

from device.ledger import KioskLedger
from device.ports import SystemClock
from shared.events import CredentialKind
from shared.model import MemberLedger, OfflineLimits, PointsLot
from shared.protocol import RuleBundleMessage
from tests.ledger.builders import STORE, snapshot
from tests.support.factories import DAY, bundle, member, punch_pass, yoga_class

REPO = Path(__file__).resolve().parents[2]
MEMBERS = 120
ROUNDS = 8
START_POINTS = 100


def _uid(i: int) -> str:
    return f"{i + 1:08X}"


def _seed(path: Path) -> None:
    """A ledger whose yoga class is open for sign-in for the next 20 minutes."""
    now = SystemClock().wall_ms()
    limits = OfflineLimits(
        max_unconfirmed_sessions_per_member=10,
        max_unconfirmed_points_per_member=10_000,
        kiosk_max_unconfirmed_sessions=100_000,
        kiosk_max_unconfirmed_points=10**9,
    )
    rules = bundle(classes=[yoga_class(store_id=STORE, starts_ms=now + 5 * 60_000)], offline=limits)
    lot = PointsLot(
        lot_id="seed", earned_ms=now - DAY, expires_ms=now + 300 * DAY, amount=0, remaining=100
    )
    start = MemberLedger(
        passes=(punch_pass("p1", 10, valid_from_ms=now - DAY, valid_until_ms=now + 30 * DAY),),
        points_lots=(lot,),
    )
    records = [member(f"m{i}", cards=(_uid(i),), ledger=start) for i in range(MEMBERS)]
    with KioskLedger.open(path, kiosk_id="k1", store_id=STORE, clock=SystemClock()) as led:
        led.apply_rule_bundle(RuleBundleMessage(bundle=rules))
        for message in snapshot(records, 1):
            led.apply_member_update(message)


def _commands(rng: random.Random, round_no: int, nonces: list[str], count: int) -> list[str]:
    lines = []
    for n in range(count):
        tag = f"r{round_no}-{n}"
        i = rng.randrange(MEMBERS)
        roll = rng.random()
        if roll < 0.6:
            lines.append(f"{tag} card {_uid(i)}")
        elif roll < 0.75:
            lines.append(f"{tag} redeem m{i} water")
        elif roll < 0.9 or not nonces:
            nonce = f"nonce{round_no}x{n:04d}"
            nonces.append(nonce)
            expires = SystemClock().wall_ms() + 600_000
            lines.append(f"{tag} qr m{i} {nonce} {expires}")
        else:  # a screenshot replayed
            expires = SystemClock().wall_ms() + 600_000
            lines.append(f"{tag} qr m{i} {rng.choice(nonces)} {expires}")
        if rng.random() < 0.05:
            lines.append(f"{tag}a ack {rng.randrange(1, 40 * (round_no + 1))}")
    return lines


def _reader(stream: IO[str], out: queue.Queue[str | None]) -> None:
    for line in stream:
        out.put(line)
    out.put(None)


def _run_round(
    db: Path, commands: list[str], kill_after: int | None, rng: random.Random
) -> list[dict[str, Any]]:
    """Run the probe on ``commands``; SIGKILL it after ``kill_after`` results (None: let it
    finish). Returns every complete line it printed."""
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "device.ledger.crashprobe", str(db)),
            *("--kiosk-id", "k1", "--store-id", STORE, "--online"),
        ],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    assert proc.stdout is not None and proc.stdin is not None
    reader = threading.Thread(target=_reader, args=(proc.stdout, lines), daemon=True)
    reader.start()
    printed: list[dict[str, Any]] = []
    try:
        ready = lines.get(timeout=60)
        assert ready is not None and json.loads(ready)["ready"], proc.stderr
        proc.stdin.write("\n".join(commands) + "\n")
        proc.stdin.flush()
        if kill_after is None:
            proc.stdin.close()
        while True:
            line = lines.get(timeout=60)
            if line is None:
                break
            if line.endswith("\n"):
                printed.append(json.loads(line))
            if kill_after is not None and len(printed) >= kill_after:
                # A random extra moment so the kill lands anywhere in the next request
                # (deciding, writing, fsync, printing) - placement, not synchronisation.
                time.sleep(rng.random() * 0.004)
                proc.send_signal(signal.SIGKILL)
                kill_after = None
        proc.wait(timeout=60)
        reader.join(timeout=60)
        while True:  # lines already in the pipe when the process died were printed
            rest = lines.get_nowait()
            if rest is None:
                break
            if rest.endswith("\n"):
                printed.append(json.loads(rest))
    except queue.Empty:
        pass
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None and not stream.closed:
                stream.close()
    return printed


@pytest.mark.slow
def test_sigkill_loses_and_doubles_nothing(tmp_path: Path):
    db = tmp_path / "ledger.db"
    _seed(db)
    rng = random.Random(20260101)
    nonces: list[str] = []
    printed: list[dict[str, Any]] = []
    kills = 0
    for round_no in range(ROUNDS):
        last = round_no == ROUNDS - 1
        commands = _commands(rng, round_no, nonces, 120)
        kill_after = None if last else rng.randrange(1, 100)
        out = _run_round(db, commands, kill_after, rng)
        kills += 0 if last else 1
        printed.extend(line for line in out if "outcome" in line)
        if last:
            assert len([x for x in out if "outcome" in x]) == len(
                [c for c in commands if " ack " not in c]
            ), "the final round runs to completion"
    assert kills == ROUNDS - 1
    assert len(printed) > 100

    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT seq, event_id, decision_seq, kind, member_id, payload, acked FROM journal"
            " ORDER BY seq"
        ).fetchall()
        kiosk = conn.execute(
            "SELECT last_seq, acked_seq, unconfirmed_sessions, unconfirmed_points FROM kiosk"
        ).fetchone()
        stored_nonces = {r[0] for r in conn.execute("SELECT nonce FROM qr_nonces")}
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()
    assert integrity == "ok"

    # gapless, never reused, and the kiosk row agrees with the journal
    seqs = [r[0] for r in rows]
    assert seqs == list(range(1, len(rows) + 1))
    assert kiosk[0] == len(rows)
    assert len({r[1] for r in rows}) == len(rows)
    assert all(r[6] == (1 if r[0] <= kiosk[1] else 0) for r in rows)

    # every printed result is in the journal exactly once, as printed, and as a whole decision
    by_seq = {r[0]: r for r in rows}
    groups: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for r in rows:
        groups[r[2]].append(r)
    for result in printed:
        events = result["events"]
        assert events, result
        for seq, event_id, kind in events:
            assert by_seq[seq][1] == event_id and by_seq[seq][3] == kind, result
        assert [r[0] for r in groups[events[0][0]]] == [e[0] for e in events], result

    # nothing half-applied: every decision in the file is one of the complete shapes
    shapes = Counter(tuple(r[3] for r in group) for group in groups.values())
    allowed = {
        ("class_signin", "checkin"),  # first tap in the open class: session + day's reward
        ("points_redeem",),
        ("rejected",),
    }
    assert set(shapes) <= allowed, shapes
    assert shapes[("class_signin", "checkin")] > 0

    # balances: at most one deduction per member for the class; totals match the journal
    payloads = [json.loads(r[5]) for r in rows]
    signins = Counter(p["member_id"] for p in payloads if p["body"]["kind"] == "class_signin")
    assert max(signins.values()) == 1
    assert kiosk[2] == sum(signins.values())
    redeemed = sum(p["body"]["points"] for p in payloads if p["body"]["kind"] == "points_redeem")
    assert kiosk[3] == redeemed

    # a QR nonce and the event it produced were committed together, and accepted once
    decisions = {r[2]: json.loads(r[5]) for r in rows}  # one event of each decision
    used = Counter(
        p["credential"]["qr_nonce"]
        for p in decisions.values()
        if p["credential"]
        and p["credential"]["kind"] == CredentialKind.QR
        and (p["body"]["kind"] != "rejected" or p["body"]["reason"] != "qr_replayed")
    )
    assert max(used.values()) == 1
    assert set(used) == stored_nonces

    # the ledger reopens and shows the member balances the journal implies
    with KioskLedger.open(db, kiosk_id="k1", store_id=STORE, clock=SystemClock()) as led:
        for i in range(MEMBERS):
            summary = led.member_summary(f"m{i}")
            assert summary is not None
            mine = [p for p in payloads if p["member_id"] == f"m{i}"]
            spent = sum(p["body"]["points"] for p in mine if p["body"]["kind"] == "points_redeem")
            earned = sum(p["body"]["points"] for p in mine if p["body"]["kind"] == "checkin")
            assert summary.points_balance == START_POINTS + earned - spent
            assert summary.passes[0].sessions_left == 10 - signins.get(f"m{i}", 0)
