"""What a person at the door sees and hears, read back from the board's pin changes.

An episode is everything the LED and buzzer did between one ``signal`` the firmware played
and the next. It is classified by what a student notices (colours and beeps), written down
independently of the firmware's pattern table (docs/station.md has the same table):

==========  ===========================  ======
meaning     colours lit                  beeps
==========  ===========================  ======
accepted    green only                   1
already     blue only                    2
refused     red only                     1 (long)
saved       amber (red + green together) 3
full        red only                     5
again       amber                        0
auth        red and blue, alternating    2
fault       red only                     0
==========  ===========================  ======
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass
class Episode:
    """The LED colours lit and the beeps between two signals."""

    colours: set[str] = field(default_factory=set)
    beeps: int = 0
    longest_beep_ms: int = 0

    def meaning(self) -> str:
        """What a student would take it to mean (``unknown`` for anything else)."""
        c, b = self.colours, self.beeps
        if c == {"green"} and b == 1:
            return "accepted"
        if c == {"blue"} and b == 2:
            return "already"
        if c == {"red"} and b == 1 and self.longest_beep_ms >= 400:
            return "refused"
        if c == {"amber"} and b == 3:
            return "saved"
        if c == {"red"} and b == 5:
            return "full"
        if c == {"amber"} and b == 0:
            return "again"
        if c == {"red", "blue"} and b == 2:
            return "auth"
        if c == {"red"} and b == 0:
            return "fault"
        return "unknown"


STEADY_MS = 40
"""A colour shorter than this is the firmware setting one pin after another (red, then green
for amber), not a light a person sees; on a loaded machine the process can stall between two
pin writes for several milliseconds. Every step of every pattern lasts 70 ms or more."""


def read_episode(
    changes: Sequence[tuple[int, int, int]],
    pins: Mapping[str, int],
    start: Mapping[int, int],
    end_ms: int | None = None,
) -> Episode:
    """The episode of ``changes`` ((pin, value, ticks_ms) in order), pins named by colour.

    ``start`` is each pin's level when the episode began; ``end_ms`` when it ended (the next
    signal), so its last light counts only if it was steady.
    """
    level = dict(start)
    names = {number: name for name, number in pins.items()}
    episode = Episode()
    beep_from: int | None = None
    states: list[tuple[int, tuple[int, int, int]]] = []

    def colour_state(at: int) -> None:
        state = (level.get(pins["red"], 0), level.get(pins["green"], 0), level.get(pins["blue"], 0))
        states.append((at, state))

    colour_state(changes[0][2] if changes else 0)
    for pin, value, at in changes:
        if level.get(pin) == value:
            continue
        level[pin] = value
        if names.get(pin) == "buzzer":
            if value:
                episode.beeps += 1
                beep_from = at
            elif beep_from is not None:
                episode.longest_beep_ms = max(episode.longest_beep_ms, at - beep_from)
                beep_from = None
        else:
            colour_state(at)
    for index, (at, (red, green, blue)) in enumerate(states):
        until = states[index + 1][0] if index + 1 < len(states) else end_ms
        if until is not None and until - at < STEADY_MS:
            continue
        if red and green:
            episode.colours.add("amber")
        elif red:
            episode.colours.add("red")
        elif green:
            episode.colours.add("green")
        if blue:
            episode.colours.add("blue")
    return episode
