"""What MicroPython runs after boot: the Tapfleet door station (see docs/station.md)."""

from tapstation import board

board.run()
