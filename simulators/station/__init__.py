"""A door station on this machine: the real firmware under the real MicroPython unix port.

``StationBoard`` runs ``device/station`` (built with ``mpy-cross``, as it ships) with the
simulated board modules of ``simulators/station_board`` on ``MICROPYPATH``: its UART is a
pty with the PN532 simulator (``simulators.pn532``) behind it, its pins print their changes,
its sockets are the host's. ``lights`` turns the pin changes back into what a person at the
door sees and hears.
"""

from simulators.station.board import StationBoard, StationEvent, micropython_binary
from simulators.station.lights import Episode, read_episode

__all__ = ["Episode", "StationBoard", "StationEvent", "micropython_binary", "read_episode"]
