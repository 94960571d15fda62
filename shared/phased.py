"""Staged (phased) software updates: which kiosks take a release now, as APT decides it.

APT's phased updates (``Phased-Update-Percentage``) seed a random number with the package,
its version and the machine id, and a machine takes the update when that number falls under
the published percentage. The same here: a kiosk's draw is a stable function of the
channel, the release version and its machine id (``/etc/machine-id``), so

* raising the percentage only adds kiosks, it never drops one that already updated;
* each release draws anew, so the same kiosks are not always the canaries;
* coordinator, dashboard and kiosk compute the same answer without talking to each other.

Pure functions, no I/O: the updater (``device/updater.py``) and the coordinator's rollout
page both call :func:`in_phase`.
"""

from __future__ import annotations

import hashlib
import re

VERSION = re.compile(r"^[0-9]+(\.[0-9]+){1,3}([a-z]+[0-9]*)?$")
"""A release version as the wheel carries it (``1.4.2``, ``1.5.0rc1``)."""


def draw(channel: str, version: str, machine_id: str) -> int:
    """This machine's number (0..99) for ``version`` on ``channel``: stable, uniform."""
    seed = f"{channel}-{version}-{machine_id.strip().lower()}".encode()
    return int.from_bytes(hashlib.sha256(seed).digest()[:8], "big") % 100


def in_phase(channel: str, version: str, machine_id: str, percentage: int) -> bool:
    """True when this machine takes ``version`` at ``percentage`` (0: nobody, 100: all)."""
    if not 0 <= percentage <= 100:
        raise ValueError(f"a phased percentage is 0..100, not {percentage}")
    return draw(channel, version, machine_id) < percentage


def version_key(version: str) -> tuple[tuple[int, ...], str]:
    """An ordering key for :data:`VERSION` strings (a pre-release sorts before its release)."""
    if not VERSION.match(version):
        raise ValueError(f"not a release version: {version!r}")
    match = re.match(r"^([0-9.]+)(.*)$", version)
    assert match is not None
    numbers = tuple(int(n) for n in match.group(1).split("."))
    numbers += (0,) * (4 - len(numbers))
    return numbers, match.group(2) or "~"  # "~" sorts after any letter: final > rc
