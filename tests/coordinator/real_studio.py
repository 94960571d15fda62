"""Two real kiosks of one studio (``KioskLedger`` + ``KioskLink`` each) that can go offline
and come back, for the class tests."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

from device.ledger import KioskLedger
from device.link import KioskLink, LinkSettings
from device.ports import SystemClock
from tests.coordinator.harness import Harness

MEMBERS = [f"m{i:02d}" for i in range(1, 15)]


def card(member_id: str) -> str:
    return f"04A1B2C3D4E5{int(member_id[1:]):02X}"


class Studio:
    """Real kiosks of store s1 (ledger + link each), which can go offline and back."""

    def __init__(
        self, h: Harness, folder: Path, stack: ExitStack, kiosks: tuple[str, ...] = ("k1", "k2")
    ):
        self.h = h
        self.ledgers = {
            k: stack.enter_context(
                KioskLedger.open(
                    folder / k / "ledger.db", kiosk_id=k, store_id="s1", clock=SystemClock()
                )
            )
            for k in kiosks
        }
        self.links: dict[str, KioskLink | None] = dict.fromkeys(kiosks)
        stack.callback(self.stop_all)
        for k in self.ledgers:
            self.online(k)

    def settings(self) -> LinkSettings:
        return LinkSettings(
            host=self.h.broker.host,
            port=self.h.broker.port,
            keepalive_s=5,
            heartbeat_interval_s=1,
            reconnect_min_s=0.05,
            reconnect_max_s=0.5,
            online_grace_s=0.3,
            sync_min_interval_s=0.3,
            resend_after_s=5,
        )

    def online(self, kiosk_id: str) -> None:
        link = KioskLink(self.settings(), self.ledgers[kiosk_id])
        link.start()
        self.links[kiosk_id] = link

    def offline(self, kiosk_id: str) -> None:
        link = self.links[kiosk_id]
        assert link is not None
        link.stop(timeout_s=3)
        self.links[kiosk_id] = None
        self.ledgers[kiosk_id].set_online(False)

    def stop_all(self) -> None:
        for k in list(self.links):
            if self.links[k] is not None:
                self.offline(k)

    def delivered(self, kiosk_id: str) -> bool:
        ledger = self.ledgers[kiosk_id]
        return self.h.applied_seq(kiosk_id) == ledger.outbox_stats().last_seq

    def confirmed(self, kiosk_id: str, member_id: str) -> bool:
        summary = self.ledgers[kiosk_id].member_summary(member_id)
        return summary is not None and summary.pending_events == 0

    def tap(self, kiosk_id: str, member_id: str, session_id: str) -> Any:
        outcome = self.ledgers[kiosk_id].tap_card(card(member_id), session_id)
        link = self.links[kiosk_id]
        if link is not None:
            link.notify_new_events()
        return outcome.decision
