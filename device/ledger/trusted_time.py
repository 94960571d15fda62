"""The kiosk's best estimate of the true time, for decisions and for its hybrid logical clock.

A Raspberry Pi has no real-time clock. It may boot minutes off, years behind (1970, or the
last saved time) or years ahead (a bad NTP answer, a dead backup battery). The kiosk judges
pass validity, class sign-in windows, points expiry and offline limits at "now", and its
HLC absorbs "now" for good (an HLC never goes backwards), so one wrong wall-clock reading
years ahead would make every valid pass look expired and stamp every later event years in
the future. The wall clock is therefore evidence (kept on each event as ``wall_ms``), and
"now" comes from here:

1. Once the coordinator has been heard in this process (every Ack and member update carries
   its HLC), now is the latest such timestamp plus the monotonic time elapsed since it
   arrived. Each one is a lower bound of the true time (the message was stamped before it
   reached us), so the greatest wins: a message that waited in the broker's queue while
   the kiosk was away cannot pull time back. The wall clock is not consulted any more.
2. Before that, the floor is what the ledger already knew (its persisted HLC, i.e. the last
   time it issued or heard) plus the monotonic time elapsed since it was opened: time that
   has certainly passed.
3. The wall clock is believed when it lies between the floor and the floor plus
   :data:`MAX_UNCONFIRMED_JUMP_MS`: a kiosk switched off over a long holiday and booted
   with a correct clock but no network keeps real time.
4. A wall clock behind the floor, or further ahead than that, is not believed: the floor is
   used. A kiosk booting in 2038 with no network judges passes at a time that has certainly
   come (offline limits still bound what it gives away) and its HLC is not dragged into
   the future; when the network comes back rule 1 takes over. The coordinator flags the
   events' wall clock (``clock_skew`` conflicts) and the heartbeat's clock offset shows
   the kiosk's clock error on the dashboard.

A brand-new ledger knows no time of its own and believes the wall clock until it first
hears the coordinator.
"""

from __future__ import annotations

import threading
from enum import StrEnum

from device.ports import Clock

DAY_MS = 86_400_000
MAX_UNCONFIRMED_JUMP_MS = 10 * DAY_MS
"""How far ahead of the last known time an unconfirmed wall clock may be: a store closed for
a week-long holiday still boots on its own clock; a clock years ahead is refused."""


class TimeSource(StrEnum):
    """Where the kiosk's current notion of time comes from."""

    COORDINATOR = "coordinator"
    """Anchored to the coordinator's timestamps (rule 1)."""
    WALL = "wall"
    """The local wall clock, within the plausible range (rule 3)."""
    FLOOR = "floor"
    """The last known time plus elapsed monotonic time; the wall clock was refused (rule 4)."""


class TrustedTime:
    """Now, per the rules above. Thread-safe."""

    def __init__(self, clock: Clock, known_ms: int) -> None:
        """``known_ms``: the latest time the ledger has issued or heard (its persisted HLC)."""
        self._clock = clock
        self._known_ms = max(0, known_ms)
        self._opened_mono_ms = _ms(clock.monotonic())
        self._anchor: int | None = None
        """Coordinator time minus local monotonic time, in ms (the greatest seen)."""
        self._lock = threading.Lock()

    def observe_coordinator(self, coordinator_ms: int) -> None:
        """A timestamp the coordinator stamped (an HLC's wall part) has just arrived."""
        anchor = coordinator_ms - _ms(self._clock.monotonic())
        with self._lock:
            if self._anchor is None or anchor > self._anchor:
                self._anchor = anchor

    def now_ms(self) -> int:
        """The best estimate of the true time, in UTC epoch milliseconds."""
        return self._now()[0]

    def source(self) -> TimeSource:
        """Which rule :meth:`now_ms` follows at the moment."""
        return self._now()[1]

    def _now(self) -> tuple[int, TimeSource]:
        mono_ms = _ms(self._clock.monotonic())
        with self._lock:
            anchor = self._anchor
        floor = self._known_ms + max(0, mono_ms - self._opened_mono_ms)
        if anchor is not None:
            return max(anchor + mono_ms, floor), TimeSource.COORDINATOR
        wall = self._clock.wall_ms()
        if self._known_ms == 0:
            return wall, TimeSource.WALL
        if floor <= wall <= floor + MAX_UNCONFIRMED_JUMP_MS:
            return wall, TimeSource.WALL
        return floor, TimeSource.FLOOR


def _ms(seconds: float) -> int:
    return round(seconds * 1000)
