"""The demo's own errors: each says what went wrong and what to do about it."""

from __future__ import annotations

from shared.errors import TapfleetError


class DemoError(TapfleetError):
    """The demo cannot go on; the message is for the person who ran it."""

    code = "demo_error"


class DemoInterrupted(DemoError):
    """The user asked the demo to stop (Ctrl-C or SIGTERM) before it was fully up."""

    code = "demo_interrupted"


class ChildExited(DemoError):
    """A process the demo started exited on its own."""

    code = "demo_child_exited"
