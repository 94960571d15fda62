"""The full ledger audit that ends every fault test: nothing lost, nothing doubled, one truth.

Read after the kiosk hosts have stopped (their SQLite files are the kiosks' own record) and
with the coordinator's database as it stands:

1. every kiosk's journal is gapless (seq 1..n, unique event ids);
2. the coordinator holds exactly that journal for the kiosk, event for event, applied up
   to n, nothing held back, nothing quarantined;
3. every tap a member was shown (a host's printed answer) is in both, once, of the kind the
   answer named; the report counts the distinct events shown per kiosk, so a test can
   compare them with the journal (nothing journaled that nobody was shown, beyond the taps
   in flight when a process died);
4. for every member, the central ledger equals ``shared.fold.fold_sorted`` of the
   coordinator's own (``hq``) events and every event every kiosk journaled for them;
5. every kiosk's view of every member (snapshot + its own pending events) equals the
   central ledger, with nothing pending.
"""

from __future__ import annotations

import sqlite3
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from coordinator import schema
from coordinator.ledger.jsonrows import event_from_row, ledger_from_row
from device.ledger import KioskLedger
from device.ports import SystemClock
from shared.events import HQ_SOURCE, Event
from shared.fold import fold_sorted
from shared.model import MemberLedger
from tests.reliability.processes import CoordinatorProc


@dataclass
class AuditReport:
    """What the audit looked at (for the test's own assertions and its failure messages)."""

    kiosk_events: dict[str, int] = field(default_factory=dict)
    hq_events: int = 0
    members: int = 0
    acknowledged: int = 0
    shown_events: dict[str, int] = field(default_factory=dict)
    """Distinct journaled events per kiosk that some printed answer named."""
    views_checked: int = 0

    def unshown(self, kiosk_id: str) -> int:
        """Events a kiosk journaled that no answer named (in flight when it died)."""
        return self.kiosk_events[kiosk_id] - self.shown_events.get(kiosk_id, 0)


def read_journal(path: Path) -> list[Event]:
    """A kiosk's whole journal, in seq order, straight from its SQLite file."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT payload FROM journal ORDER BY seq").fetchall()
        last_seq = conn.execute("SELECT last_seq FROM kiosk WHERE id = 1").fetchone()[0]
    finally:
        conn.close()
    events = [Event.model_validate_json(r[0]) for r in rows]
    assert last_seq == len(events), f"{path}: kiosk row says last seq {last_seq}"
    return events


def _central(conn: sa.Connection) -> dict[str, Any]:
    ev = schema.events
    rows = conn.execute(
        sa.select(ev.c.source, ev.c.seq, ev.c.event_id, ev.c.quarantined, ev.c.body).order_by(
            ev.c.source, ev.c.seq
        )
    ).all()
    held = conn.execute(sa.select(sa.func.count()).select_from(schema.held_events)).scalar_one()
    k = schema.kiosks
    applied = dict(conn.execute(sa.select(k.c.kiosk_id, k.c.applied_seq)).all())
    ms = schema.member_states
    ledgers = {
        r.member_id: ledger_from_row(r.ledger)
        for r in conn.execute(sa.select(ms.c.member_id, ms.c.ledger))
    }
    return {"rows": rows, "held": held, "applied": applied, "ledgers": ledgers}


def full_audit(
    coordinator: CoordinatorProc,
    ledgers: Mapping[str, Path],
    acknowledged: Iterable[dict[str, Any]] = (),
    *,
    check_views: bool = True,
) -> AuditReport:
    """Run checks 1-5 above; AssertionError says which and where."""
    report = AuditReport()
    journals = {k: read_journal(path) for k, path in ledgers.items()}
    central = coordinator.read(_central)
    by_source: dict[str, list[Any]] = defaultdict(list)
    for row in central["rows"]:
        by_source[row.source].append(row)

    # 1 + 2: journals gapless, and the coordinator holds exactly them
    assert central["held"] == 0, f"{central['held']} events still held at the coordinator"
    for kiosk_id, journal in journals.items():
        seqs = [e.seq for e in journal]
        assert seqs == list(range(1, len(journal) + 1)), f"{kiosk_id}: journal has gaps"
        assert len({e.event_id for e in journal}) == len(journal), f"{kiosk_id}: reused ids"
        rows = by_source.get(kiosk_id, [])
        assert [(r.seq, r.event_id) for r in rows] == [(e.seq, e.event_id) for e in journal], (
            f"{kiosk_id}: the coordinator's events differ from the kiosk's journal "
            f"({len(rows)} central, {len(journal)} journaled)"
        )
        assert [event_from_row(r.body) for r in rows] == journal, f"{kiosk_id}: bodies differ"
        assert not any(r.quarantined for r in rows), f"{kiosk_id}: quarantined events"
        assert central["applied"].get(kiosk_id) == len(journal), (
            f"{kiosk_id}: applied seq {central['applied'].get(kiosk_id)} of {len(journal)}"
        )
        report.kiosk_events[kiosk_id] = len(journal)
    ids = Counter(r.event_id for r in central["rows"])
    assert not [i for i, n in ids.items() if n > 1], "an event id is stored twice"
    strangers = set(by_source) - set(journals) - {HQ_SOURCE}
    assert not strangers, f"events from kiosks nobody audits: {sorted(strangers)}"

    # 3: every tap a member saw, exactly once on both sides
    journal_ids = {k: {e.seq: (e.event_id, e.kind) for e in j} for k, j in journals.items()}
    shown: dict[str, set[str]] = defaultdict(set)
    for line in acknowledged:
        for seq, event_id, *rest in line["events"]:
            found = journal_ids[line["k"]].get(seq)
            assert found is not None and found[0] == event_id, f"acknowledged {line} lost"
            assert not rest or rest[0] == found[1], f"acknowledged {line} journaled as {found}"
            assert ids[event_id] == 1, f"acknowledged event {event_id} stored {ids[event_id]}x"
            shown[line["k"]].add(event_id)
        report.acknowledged += 1
    report.shown_events = {k: len(v) for k, v in shown.items()}

    # 4: central balances = the reference fold of every fact
    facts: dict[str, list[Event]] = defaultdict(list)
    hq = [event_from_row(r.body) for r in by_source.get(HQ_SOURCE, [])]
    report.hq_events = len(hq)
    for event in [*hq, *(e for j in journals.values() for e in j)]:
        if event.member_id is not None:
            facts[event.member_id].append(event)
    for member_id in sorted(set(facts) | set(central["ledgers"])):
        reference, _ = fold_sorted(MemberLedger(), facts.get(member_id, []))
        assert central["ledgers"].get(member_id) == reference, (
            f"member {member_id}: central ledger differs from the reference fold of "
            f"{len(facts.get(member_id, []))} events"
        )
    report.members = len(central["ledgers"])

    # 5: every kiosk's view of every member it holds is the central ledger
    if check_views:
        for kiosk_id, path in ledgers.items():
            with _open_any(path, kiosk_id) as ledger:
                now = ledger.now_ms()
                for member_id, ledger_central in central["ledgers"].items():
                    summary = ledger.member_summary(member_id)
                    if summary is None:
                        continue
                    assert summary.pending_events == 0, f"{kiosk_id}/{member_id}: pending"
                    assert summary.passes == ledger_central.passes, f"{kiosk_id}/{member_id}"
                    assert summary.checkins == ledger_central.checkins, f"{kiosk_id}/{member_id}"
                    assert summary.points_balance == ledger_central.points_available(now), (
                        f"{kiosk_id}/{member_id}: points"
                    )
                    report.views_checked += 1
    return report


def _open_any(path: Path, kiosk_id: str) -> KioskLedger:
    """Open a kiosk ledger under the store it was created for."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        store = conn.execute("SELECT store_id FROM kiosk WHERE id = 1").fetchone()[0]
    finally:
        conn.close()
    return KioskLedger.open(path, kiosk_id=kiosk_id, store_id=store, clock=SystemClock())
