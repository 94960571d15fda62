"""Turning what a reader sees over time into discrete taps and scans (pure, clock passed in).

A card held on the reader is one tap; lifted and presented again it is a new tap (what a
second tap means is the ledger's double-tap rule, not ours). Real readers sometimes lose a
card for one presence check while it lies still, so a card that reappears within
``rearm_s`` of last being seen counts as the same tap.

A QR code stays in view for many frames and decoders miss it on some of them (blur, glare),
so a code is new only when it was not decoded in the last ``gone_after_frames`` frames.
"""

from __future__ import annotations

from collections.abc import Iterable


class TapDebouncer:
    """Decides whether a card read is a new tap."""

    def __init__(self, rearm_s: float = 0.5) -> None:
        self.rearm_s = rearm_s
        self._uid: str | None = None
        self._present = False
        self._last_seen = 0.0

    def arrived(self, uid: str, now: float) -> bool:
        """A card was read at ``now``; True if this is a new tap."""
        same = uid == self._uid and (self._present or now - self._last_seen <= self.rearm_s)
        self._uid, self._present, self._last_seen = uid, True, now
        return not same

    def still_present(self, uid: str, now: float) -> None:
        """The card answered a presence check at ``now``."""
        if uid == self._uid:
            self._last_seen = now

    def left(self, uid: str, now: float) -> None:
        """The card stopped answering at ``now``."""
        if uid == self._uid:
            self._present = False
            self._last_seen = now

    @property
    def present_uid(self) -> str | None:
        """The card currently on the reader, if any."""
        return self._uid if self._present else None


class CodeDebouncer:
    """Decides which decoded QR texts in a frame are new scans."""

    def __init__(self, gone_after_frames: int = 15) -> None:
        if gone_after_frames < 1:
            raise ValueError("gone_after_frames must be at least 1")
        self.gone_after_frames = gone_after_frames
        self._last_seen: dict[str, int] = {}

    def frame(self, index: int, texts: Iterable[str]) -> list[str]:
        """Feed the texts decoded from frame ``index`` (increasing); return the new ones."""
        new: list[str] = []
        for text in texts:
            last = self._last_seen.get(text)
            is_new = last is None or index - last > self.gone_after_frames
            if is_new and text not in new:
                new.append(text)
            self._last_seen[text] = index
        horizon = index - self.gone_after_frames
        for text in [t for t, seen in self._last_seen.items() if seen < horizon]:
            del self._last_seen[text]
        return new
