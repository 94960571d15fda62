"""Hybrid logical clock (Kulkarni et al.), pure.

A Raspberry Pi has no real-time clock and may boot with a wall clock years off. Event order
per kiosk comes from ``seq``; across kiosks we order by an HLC that never goes backwards on
a node, stays close to physical time when clocks are sane, and absorbs the clock of every
message received from the coordinator, so a kiosk with a bad clock is pulled forward as soon
as it hears from the fleet.
"""

from __future__ import annotations

from typing import NamedTuple


class HLC(NamedTuple):
    """A hybrid logical timestamp: physical milliseconds plus a logical counter."""

    wall_ms: int
    counter: int

    def encode(self) -> str:
        """Fixed-width text form that sorts like the tuple (for logs and text columns)."""
        return f"{self.wall_ms:015d}.{self.counter:05d}"

    @classmethod
    def decode(cls, text: str) -> HLC:
        """Inverse of :meth:`encode`."""
        wall, _, counter = text.partition(".")
        return cls(int(wall), int(counter or 0))


ZERO = HLC(0, 0)


def tick(last: HLC, physical_ms: int) -> HLC:
    """Timestamp for a local event, given the last timestamp this node issued or received."""
    if physical_ms > last.wall_ms:
        return HLC(physical_ms, 0)
    return HLC(last.wall_ms, last.counter + 1)


def merge(last: HLC, remote: HLC, physical_ms: int) -> HLC:
    """Timestamp after receiving a message stamped ``remote``."""
    wall = max(last.wall_ms, remote.wall_ms, physical_ms)
    if wall == last.wall_ms == remote.wall_ms:
        counter = max(last.counter, remote.counter) + 1
    elif wall == last.wall_ms:
        counter = last.counter + 1
    elif wall == remote.wall_ms:
        counter = remote.counter + 1
    else:
        counter = 0
    return HLC(wall, counter)
