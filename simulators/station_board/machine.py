"""Simulated ``machine`` for the station firmware under the MicroPython unix port (CI only).

No hardware is here, so these classes are fakes; each says what it stands in for. The UART
is a real byte stream: a pseudo-terminal whose other end is the PN532 simulator.
"""

import os
import select
import sys
import time

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5


def reset_cause() -> int:
    """As set by the test (``TAPFLEET_SIM_RESET_CAUSE``), power-on otherwise."""
    value = os.getenv("TAPFLEET_SIM_RESET_CAUSE")
    return int(value) if value else PWRON_RESET


def reset() -> None:
    """A board reset ends the simulated board (the test may start it again)."""
    print("board: reset")
    sys.exit(98)


def unique_id() -> bytes:
    """Six bytes like an ESP32's MAC address."""
    return b"\x24\x0a\xc4\x00\x00\x01"


class Pin:
    """An output pin whose changes are printed for the test to read."""

    OUT = 1
    IN = 0

    def __init__(self, pin_id: int, mode: int = 1) -> None:
        self.id = pin_id
        self._value = 0

    def value(self, x: int | None = None) -> int | None:
        """Set (and print) or read the level."""
        if x is None:
            return self._value
        self._value = 1 if x else 0
        print("board: pin", self.id, self._value, time.ticks_ms())
        return None

    def on(self) -> None:
        """Drive high."""
        self.value(1)

    def off(self) -> None:
        """Drive low."""
        self.value(0)


class UART:
    """HSU to the simulated PN532 over the pty named by ``TAPFLEET_SIM_UART<id>``.

    ``read(n)`` waits up to ``timeout`` ms for the first byte and ``timeout_char`` ms for
    each next one, and returns what came (None when nothing did), as on the ESP32.
    """

    def __init__(self, uart_id: int, baudrate: int = 115200, **kwargs: int) -> None:
        path = os.getenv("TAPFLEET_SIM_UART{}".format(uart_id))
        if not path:
            raise OSError("no simulated UART{}: set TAPFLEET_SIM_UART{}".format(uart_id, uart_id))
        self._file = open(path, "r+b")
        self._poll = select.poll()
        self._poll.register(self._file, select.POLLIN)
        self.timeout = kwargs.get("timeout", 0)
        self.timeout_char = kwargs.get("timeout_char", 1)

    def any(self) -> int:
        """1 when a byte is waiting (the pty cannot say how many)."""
        return 1 if self._poll.poll(0) else 0

    def read(self, nbytes: int) -> bytes | None:
        """Up to ``nbytes`` bytes, or None on timeout."""
        got = b""
        wait = self.timeout
        while len(got) < nbytes:
            if not self._poll.poll(wait):
                break
            got += self._file.read(1)
            wait = self.timeout_char
        return got or None

    def write(self, buf: bytes) -> int:
        """Send ``buf`` to the chip."""
        return self._file.write(buf)


class WDT:
    """The watchdog: a feed later than ``timeout`` ms after the last one ends the board."""

    def __init__(self, timeout: int = 5000) -> None:
        self.timeout = timeout
        self._last = time.ticks_ms()

    def feed(self) -> None:
        """Feed it; a late feed means the real watchdog would have reset the board."""
        now = time.ticks_ms()
        gap = time.ticks_diff(now, self._last)
        if gap > self.timeout:
            print("board: watchdog_reset gap_ms={}".format(gap))
            sys.exit(99)
        self._last = now
