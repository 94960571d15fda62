"""What the student sees and hears: an RGB LED and a buzzer, played without blocking.

Each pattern is a tuple of steps ``(red, green, blue, buzzer, milliseconds)``; the main loop
calls ``tick`` and the player sets the pins for the current step, so reading cards, talking
to the kiosk and feeding the watchdog go on while a light is showing. A new pattern replaces
the one playing. When a display is fitted, a refusal's reason code is shown on it.

==========  =======================  =====================================================
pattern     light                    sound                 meaning
==========  =======================  =====================================================
accepted    green 1.5 s              one short beep        signed in (or checked in)
already     blue 1.5 s               two short beeps       already signed in: nothing taken
refused     red 2 s                  one long beep         refused; reason code on display
saved       amber, 3 blinks          three short beeps     kiosk unreachable: tap kept
full        red, 5 fast blinks       five short beeps      kiosk unreachable, buffer full:
                                                           tap NOT kept, see the front desk
again       amber, 2 blinks          none                  card not read fully: tap again
auth        red/blue alternating     two long beeps        kiosk does not accept this
                                                           station (enrolment or key)
fault       red, 1 slow blink        none                  card reader not answering
config      red/green alternating    none                  config.json missing or invalid
==========  =======================  =====================================================
"""

import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tapstation.ports import Display, OutputPin

OFF = (0, 0, 0, 0)
PATTERNS: dict[str, tuple[tuple[int, int, int, int, int], ...]] = {
    "accepted": ((0, 1, 0, 1, 120), (0, 1, 0, 0, 1380)),
    "already": ((0, 0, 1, 1, 80), (0, 0, 1, 0, 80), (0, 0, 1, 1, 80), (0, 0, 1, 0, 1260)),
    "refused": ((1, 0, 0, 1, 600), (1, 0, 0, 0, 1400)),
    "saved": ((1, 1, 0, 1, 80), (0, 0, 0, 0, 170)) * 3 + ((1, 1, 0, 0, 500),),
    "full": ((1, 0, 0, 1, 70), (0, 0, 0, 0, 80)) * 5,
    "again": ((1, 1, 0, 0, 120), (0, 0, 0, 0, 100), (1, 1, 0, 0, 120)),
    "auth": ((1, 0, 0, 1, 400), (0, 0, 1, 0, 300), (1, 0, 0, 1, 400), (0, 0, 1, 0, 300)),
    "fault": ((1, 0, 0, 0, 300),),
    "config": ((1, 0, 0, 0, 250), (0, 1, 0, 0, 250)),
}


class Signals:
    """Plays ``PATTERNS`` on the LED and buzzer pins."""

    def __init__(
        self,
        red: "OutputPin",
        green: "OutputPin",
        blue: "OutputPin",
        buzzer: "OutputPin",
        display: "Display | None" = None,
    ) -> None:
        self._pins = (red, green, blue, buzzer)
        self._display = display
        self._steps: tuple[tuple[int, int, int, int, int], ...] = ()
        self._index = 0
        self._step_end = 0
        self._state = (-1, -1, -1, -1)
        self.current = ""
        """Name of the pattern playing ("" when idle)."""
        self._set(OFF)

    def play(self, name: str, code: str = "") -> None:
        """Start pattern ``name`` now; ``code`` goes to the display (a refusal's reason)."""
        self._steps = PATTERNS[name]
        self._index = 0
        self.current = name
        print("tapstation: signal code={} name={}".format(code, name))  # the serial console
        if self._display is not None:
            self._display.show(code)
        if self._state != OFF:
            # A new answer while one is still showing: a dark blink first, so two answers in
            # a row are seen (and heard) as two, not as one longer light.
            self._set(OFF)
            time.sleep_ms(30)
        step = self._steps[0]
        self._set(step[:4])
        self._step_end = time.ticks_add(time.ticks_ms(), step[4])

    def tick(self, now: int) -> None:
        """Advance the pattern to ``now``."""
        if not self.current:
            return
        while time.ticks_diff(now, self._step_end) >= 0:
            self._index += 1
            if self._index >= len(self._steps):
                self.current = ""
                self._set(OFF)
                if self._display is not None:
                    self._display.show("")
                return
            step = self._steps[self._index]
            self._set(step[:4])
            self._step_end = time.ticks_add(self._step_end, step[4])

    @property
    def busy(self) -> bool:
        """True while a pattern plays."""
        return bool(self.current)

    def _set(self, state: tuple[int, ...]) -> None:
        for pin, old, new in zip(self._pins, self._state, state):
            if old != new:
                pin.value(new)
        self._state = (state[0], state[1], state[2], state[3])
