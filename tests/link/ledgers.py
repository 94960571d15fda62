"""The real kiosk ledger for link tests, seen through a thin recording wrapper.

``RecordingLedger`` forwards every call to ``device.ledger.KioskLedger`` unchanged and only
remembers what the link did (online transitions, largest outbox read, applied messages), so
tests can assert on the link's behaviour while the ledger's own rules stay real. It can also
make the next downstream apply fail with a plain bug-like exception, which the real ledger
never raises on purpose.
"""

from __future__ import annotations

import threading
from pathlib import Path

from device.ledger import KioskLedger, journal
from device.ledger.database import open_database, write_transaction
from device.ledger.stream import StreamState
from device.ports import ApplyOutcome, OutboxStats, SystemClock
from shared.events import CredentialKind, CredentialRef, Event, Rejected
from shared.hlc import HLC, tick
from shared.protocol import DenyListUpdate, MemberUpdate, RuleBundleMessage, Versions

UNKNOWN_CARD = "04A1B2C3"


class RecordingLedger:
    """A real KioskLedger plus a record of how the link used it."""

    def __init__(self, real: KioskLedger) -> None:
        self.real = real
        self.kiosk_id = real.kiosk_id
        self.store_id = real.store_id
        self._lock = threading.Lock()
        self.online_calls: list[bool] = []
        self.max_limit_asked = 0
        self.applied: list[tuple[object, ApplyOutcome]] = []
        self.explode_next_apply = False

    @classmethod
    def open(cls, folder: Path, kiosk_id: str = "k1", store_id: str = "s1") -> RecordingLedger:
        """Open a fresh real ledger file in ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        real = KioskLedger.open(
            folder / "ledger.db", kiosk_id=kiosk_id, store_id=store_id, clock=SystemClock()
        )
        return cls(real)

    @classmethod
    def with_backlog(
        cls, folder: Path, n: int, kiosk_id: str = "k1", store_id: str = "s1"
    ) -> RecordingLedger:
        """A real ledger whose journal already holds ``n`` unacknowledged events.

        Written with the ledger's own journal code in one transaction: ``n`` taps through
        :meth:`append` cost an fsync each, which on a busy CI disk takes a minute for 20,000.
        """
        path = folder / "ledger.db"
        folder.mkdir(parents=True, exist_ok=True)
        now = SystemClock().wall_ms()
        conn = open_database(path, kiosk_id, store_id, now)
        try:
            with write_transaction(conn):
                state = journal.read_state(conn)
                for i in range(n):
                    journal.append(
                        conn,
                        state,
                        [Rejected(reason="unknown_card")],
                        first_hlc=tick(state.hlc, now),
                        wall_ms=now,
                        member_id=None,
                        credential=CredentialRef(kind=CredentialKind.CARD, uid=UNKNOWN_CARD),
                        offline=True,
                        rules_version=0,
                    )
                    if i % 1000 == 999:
                        now += 1
                journal.write_state(conn, state)
        finally:
            conn.close()
        return cls.open(folder, kiosk_id, store_id)

    def append(self, n: int = 1) -> None:
        """Record ``n`` real taps (an unprovisioned kiosk journals each refusal as an event)."""
        for _ in range(n):
            self.real.tap_card(UNKNOWN_CARD)

    @property
    def acked_seq(self) -> int:
        """What the ledger has durably recorded as acknowledged."""
        return self.real.outbox_stats().acked_seq

    def close(self) -> None:
        """Close the real ledger."""
        self.real.close()

    # --- OutboxPort + set_online, forwarded -------------------------------------------------

    def pending_events(self, after_seq: int, limit: int) -> list[Event]:
        """Forwarded; remembers the largest limit asked for."""
        with self._lock:
            self.max_limit_asked = max(self.max_limit_asked, limit)
        return self.real.pending_events(after_seq, limit)

    def mark_acked(self, acked_seq: int) -> None:
        """Forwarded."""
        self.real.mark_acked(acked_seq)

    def outbox_stats(self) -> OutboxStats:
        """Forwarded."""
        return self.real.outbox_stats()

    def versions(self) -> Versions:
        """Forwarded."""
        return self.real.versions()

    def observe_hlc(self, remote: HLC) -> None:
        """Forwarded."""
        self.real.observe_hlc(remote)

    def journal_events(self, after_seq: int = 0, limit: int = 1000) -> list[Event]:
        return self.real.journal_events(after_seq, limit)

    def set_restore_epoch(self, restore_epoch: int) -> None:
        self.real.set_restore_epoch(restore_epoch)

    def stream_state(self) -> StreamState:
        return self.real.stream_state()

    def refuse_stream(self, reason: str | None, detail: str = "") -> bool:
        return self.real.refuse_stream(reason, detail)

    def adopt_epoch(self, epoch: int, start_seq: int, ledger_id: str | None) -> bool:
        return self.real.adopt_epoch(epoch, start_seq, ledger_id)

    def check_applied(self, applied_seq: int, event_id: str | None) -> bool:
        return self.real.check_applied(applied_seq, event_id)

    def set_online(self, online: bool) -> None:
        """Forwarded and recorded."""
        with self._lock:
            self.online_calls.append(online)
        self.real.set_online(online)

    def _record(self, message: object, outcome: ApplyOutcome) -> ApplyOutcome:
        with self._lock:
            self.applied.append((message, outcome))
        return outcome

    def _maybe_explode(self) -> None:
        if self.explode_next_apply:
            self.explode_next_apply = False
            raise RuntimeError("simulated bug in a ledger handler")

    def apply_member_update(self, message: MemberUpdate) -> ApplyOutcome:
        """Forwarded and recorded."""
        self._maybe_explode()
        return self._record(message, self.real.apply_member_update(message))

    def apply_rule_bundle(self, message: RuleBundleMessage) -> ApplyOutcome:
        """Forwarded and recorded."""
        self._maybe_explode()
        return self._record(message, self.real.apply_rule_bundle(message))

    def apply_deny_update(self, message: DenyListUpdate) -> ApplyOutcome:
        """Forwarded and recorded."""
        self._maybe_explode()
        return self._record(message, self.real.apply_deny_update(message))
