"""One tap per hold: what the reader sees over time becomes discrete taps.

A card held on the reader is one tap; lifted and presented again it is a new tap. A card
that drops out for one poll while lying still (RF flicker) and is back within ``rearm_ms``
is the same tap. This mirrors the kiosk's ``device.readers.debounce.TapDebouncer``.
"""

import time


class TapDebouncer:
    """Decides whether a read is a new tap (times are ``time.ticks_ms`` values)."""

    def __init__(self, rearm_ms: int = 500) -> None:
        self.rearm_ms = rearm_ms
        self._uid: str | None = None
        self._present = False
        self._last_seen = 0

    def seen(self, uid: str, now: int) -> bool:
        """The card ``uid`` is in the field at ``now``; True if this is a new tap."""
        same = uid == self._uid and (
            self._present or time.ticks_diff(now, self._last_seen) <= self.rearm_ms
        )
        self._uid, self._present, self._last_seen = uid, True, now
        return not same

    def nothing(self, now: int) -> None:
        """No card answered the poll at ``now``."""
        self._present = False

    @property
    def present(self) -> str | None:
        """The card in the field, if any."""
        return self._uid if self._present else None
