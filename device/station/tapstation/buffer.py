"""The bounded offline tap buffer: taps the kiosk has not answered yet, oldest first.

Each entry is (tap number, UID, ``ticks_ms`` when read). The station hands entries over in
order with their age, so the kiosk can judge a tap at the time it was made; an entry leaves
only when the kiosk has answered for it (accepted, already, refused, or recognised as a
repeat). When the buffer is full a new tap is not kept: the station says so at once (the
``full`` signal) and counts it, instead of silently pushing out an older tap.

The buffer lives in RAM: a power cut loses what it holds (the student saw the amber
"saved, not yet confirmed" light), which docs/station.md states.
"""


class TapBuffer:
    """At most ``capacity`` unanswered taps."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("buffer capacity must be at least 1")
        self.capacity = capacity
        self._entries: list[tuple[int, str, int]] = []
        self.dropped = 0
        """Taps refused because the buffer was full."""

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def full(self) -> bool:
        """True when a new tap would not be kept."""
        return len(self._entries) >= self.capacity

    def add(self, no: int, uid: str, at_ms: int) -> bool:
        """Keep a tap; False (and counted) when the buffer is full."""
        if self.full:
            self.dropped += 1
            return False
        self._entries.append((no, uid, at_ms))
        return True

    def head(self, count: int) -> list[tuple[int, str, int]]:
        """The oldest ``count`` entries."""
        return self._entries[:count]

    def remove(self, numbers: list[int]) -> None:
        """Forget the taps with these numbers (the kiosk answered for them)."""
        gone = set(numbers)
        self._entries = [e for e in self._entries if e[0] not in gone]

    def renumber(self, first: int) -> dict[int, int]:
        """Give every entry a new number from ``first`` on; returns {old: new}.

        Used only after the kiosk said (signed) that our request numbers are stale, which
        also means it recorded none of these taps.
        """
        mapping: dict[int, int] = {}
        renumbered = []
        for no, uid, at in self._entries:
            mapping[no] = first
            renumbered.append((first, uid, at))
            first += 1
        self._entries = renumbered
        return mapping
