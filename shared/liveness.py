"""Kiosk liveness, judged honestly: alive, connected, in sync and last good tap are separate.

One pure judgement from the evidence the coordinator keeps per kiosk, for the kiosk API and
the fleet view alike (a single "active" flag lies: a kiosk can be connected yet frozen, or
alive and far behind):

* **alive**: a heartbeat arrived within :data:`ALIVE_FACTOR` times the interval the kiosk
  itself stated in it (so a kiosk that beats slowly is not called dead between beats);
* **connected**: its retained status says ``online`` (birth message) rather than
  ``offline`` (the last will the broker publishes when the connection dies);
* **in sync**: everything the kiosk recorded is applied centrally (its last seq equals the
  applied seq) *and* it runs the current rule, deny-list and member versions;
* **last good tap**: the newest accepted tap, as recorded; reported, never judged.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

ALIVE_FACTOR = 1.5
"""A kiosk is alive until this many of its own heartbeat intervals pass without one."""
ONLINE = "online"


@dataclass(frozen=True, slots=True)
class Liveness:
    """The separate facts about one kiosk at one instant."""

    alive: bool
    alive_until_ms: int | None
    """When it stops being alive without another heartbeat (None: never heard from)."""
    connected: bool
    events_caught_up: bool
    """Its last reported seq is the seq applied centrally."""
    versions_current: bool
    """It reported versions, each at least the current one for its store."""
    last_good_tap_ms: int | None

    @property
    def in_sync(self) -> bool:
        """Caught up with its events and running the current versions."""
        return self.events_caught_up and self.versions_current


def alive_until(heartbeat_received_ms: int | None, heartbeat_interval_s: int | None) -> int | None:
    """When a kiosk last heard at ``heartbeat_received_ms`` stops being alive."""
    if heartbeat_received_ms is None:
        return None
    return heartbeat_received_ms + int(ALIVE_FACTOR * (heartbeat_interval_s or 0) * 1000)


def versions_current(reported: Mapping[str, int] | None, current: Mapping[str, int]) -> bool:
    """True when the kiosk reported versions and each is at least the current one (a
    version it did not report counts as 0)."""
    if reported is None:
        return False
    return all(int(reported.get(name, 0)) >= value for name, value in current.items())


def judge(
    *,
    now_ms: int,
    status_state: str | None,
    heartbeat_received_ms: int | None,
    heartbeat_interval_s: int | None,
    applied_seq: int,
    reported_last_seq: int | None,
    reported_versions: Mapping[str, int] | None,
    current_versions: Mapping[str, int],
    last_good_tap_ms: int | None,
) -> Liveness:
    """The four facts of a kiosk from its evidence (see the module's docstring)."""
    until = alive_until(heartbeat_received_ms, heartbeat_interval_s)
    return Liveness(
        alive=until is not None and now_ms <= until,
        alive_until_ms=until,
        connected=status_state == ONLINE,
        events_caught_up=reported_last_seq is not None and reported_last_seq == applied_seq,
        versions_current=versions_current(reported_versions, current_versions),
        last_good_tap_ms=last_good_tap_ms,
    )
