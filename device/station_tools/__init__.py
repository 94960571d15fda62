"""Host-side tools for the door station firmware: build it, type-check it, enrol a station.

``build`` compiles ``device/station/`` with ``mpy-cross`` for the board (a syntax the
board's MicroPython lacks fails the build), ``typecheck`` runs mypy over it against the
board's MicroPython stubs, ``enroll`` gives a new station its key on the kiosk and its
``config.json``. ``tapfleet station ...`` (``cli``) runs each by hand.
"""

from pathlib import Path

FIRMWARE_DIR = Path(__file__).resolve().parent.parent / "station"
"""The firmware's source folder (``main.py`` and the ``tapstation`` package)."""
