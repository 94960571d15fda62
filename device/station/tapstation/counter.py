"""Request and tap numbers that only ever go up, across reboots, without wearing the flash.

The kiosk refuses a request whose number is not above the last one it saw from this station
(replay protection), so the numbers must survive a reset. Writing the flash on every tap
would wear it; instead the counter reserves a block: the file holds the first number not
yet handed out by a future boot, written before any number of the block is used. A reset
skips the rest of the block (numbers may jump, never repeat).
"""

import json
import os

from micropython import const

BLOCK = const(64)


class CounterError(Exception):
    """The counter file cannot be written (flash full or read-only)."""


class Counter:
    """A persistent monotonic counter in ``path``."""

    def __init__(self, path: str, block: int = BLOCK) -> None:
        self.path = path
        self.block = block
        self._next = 1
        self._reserved = 1
        self.write_errors = 0

    def load(self) -> int:
        """Read the file (a missing or damaged file starts at 1) and reserve a block."""
        start = 1
        try:
            with open(self.path) as fh:
                value = json.load(fh).get("next", 1)
            if isinstance(value, int) and value > 0:
                start = value
        except (OSError, ValueError, AttributeError):
            pass
        self._next = start
        self._reserved = start
        self._reserve(start + self.block)
        return start

    def take(self) -> int:
        """The next number (reserving a new block first when this one is used up).

        Never raises: when the flash cannot be written the number is still handed out (the
        station keeps working) and ``write_errors`` counts it; should a reset then reuse
        numbers, the kiosk's signed "replayed" answer moves the counter past them.
        """
        if self._next >= self._reserved:
            try:
                self._reserve(self._next + self.block)
            except CounterError as exc:
                self.write_errors += 1
                print("tapstation: counter_not_saved", exc)
        value = self._next
        self._next += 1
        return value

    def jump_past(self, seen: int) -> None:
        """Continue above ``seen`` (the kiosk's highest number from us)."""
        if seen >= self._next:
            self._next = seen + 1
            if self._next >= self._reserved:
                try:
                    self._reserve(self._next + self.block)
                except CounterError as exc:
                    self.write_errors += 1
                    print("tapstation: counter_not_saved", exc)

    @property
    def next(self) -> int:
        """The number ``take`` returns next."""
        return self._next

    def _reserve(self, upto: int) -> None:
        temp = self.path + ".tmp"
        try:
            with open(temp, "w") as fh:
                json.dump({"next": upto}, fh)
            os.rename(temp, self.path)
        except OSError as exc:
            raise CounterError("cannot write {}: {}".format(self.path, exc))
        self._reserved = upto
