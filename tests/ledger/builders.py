"""Test helpers for the kiosk ledger: a fake clock and downstream message builders."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from pathlib import Path

from device.ledger import KioskLedger
from shared.model import MemberRecord, RuleBundle
from shared.protocol import MemberUpdate, RuleBundleMessage
from tests.support.factories import T0

KIOSK = "k1"
STORE = "s1"


class FakeClock:
    """Injected time (``device.ports.Clock``); tests move it explicitly."""

    def __init__(self, start_ms: int = T0) -> None:
        self.now_ms = start_ms

    def wall_ms(self) -> int:
        """Current fake wall time."""
        return self.now_ms

    def monotonic(self) -> float:
        """Fake monotonic seconds."""
        return self.now_ms / 1000

    def advance(self, ms: int) -> None:
        """Move time forward (or back, with a negative value: a Pi rebooting with a bad clock)."""
        self.now_ms += ms


def open_ledger(path: Path, clock: FakeClock, kiosk_id: str = KIOSK) -> KioskLedger:
    """Open the ledger at ``path`` for the test kiosk."""
    return KioskLedger.open(path, kiosk_id=kiosk_id, store_id=STORE, clock=clock)


def snapshot(
    records: Sequence[MemberRecord],
    version: int,
    included_seq: int = 0,
    chunk_size: int = 2000,
    kiosk_id: str = KIOSK,
) -> list[MemberUpdate]:
    """A full member snapshot as its chunks."""
    chunks = max(1, -(-len(records) // chunk_size))
    return [
        MemberUpdate(
            store_id=STORE,
            version=version,
            full=True,
            chunk=i,
            chunks=chunks,
            members=tuple(records[i * chunk_size : (i + 1) * chunk_size]),
            included_seq={kiosk_id: included_seq} if included_seq else {},
        )
        for i in range(chunks)
    ]


def delta(
    records: Iterable[MemberRecord],
    version: int,
    base_version: int,
    included_seq: int = 0,
    removed: Sequence[str] = (),
) -> MemberUpdate:
    """A member delta on ``base_version``."""
    return MemberUpdate(
        store_id=STORE,
        version=version,
        base_version=base_version,
        members=tuple(records),
        removed=tuple(removed),
        included_seq={KIOSK: included_seq} if included_seq else {},
    )


def provision(
    ledger: KioskLedger, records: Sequence[MemberRecord], rules: RuleBundle, version: int = 1
) -> None:
    """Give a fresh ledger its rules and a first member snapshot."""
    ledger.apply_rule_bundle(RuleBundleMessage(bundle=rules))
    for message in snapshot(records, version):
        ledger.apply_member_update(message)


def journal_rows(path: Path) -> list[tuple[int, str, int, str, str | None]]:
    """(seq, event_id, decision_seq, kind, member_id) of every journal row, read directly."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return conn.execute(
            "SELECT seq, event_id, decision_seq, kind, member_id FROM journal ORDER BY seq"
        ).fetchall()
    finally:
        conn.close()
