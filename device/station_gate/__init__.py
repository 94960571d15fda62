"""The kiosk's side of its door stations: enrolment, the signed LAN endpoint, their health.

A door station (``device/station/``, MicroPython) is an input of its kiosk, like the kiosk's
own card reader: it sends the card UIDs it reads to the kiosk over the store LAN, and the
kiosk decides them through the same ledger path (``KioskLedger.tap_station``). Modules:
``settings`` (which stations are enrolled, with their keys and rooms), ``gate`` (checks
and answers one request), ``book`` (each station's health for the heartbeat), ``server``
(the HTTP endpoint on the LAN, apart from the touchscreen UI), ``enroll`` (key and board
config for a new station).
"""

from device.station_gate.book import StationBook
from device.station_gate.gate import GateAnswer, StationGate, StationTaps
from device.station_gate.settings import StationEnrollment, StationGateSettings

__all__ = [
    "GateAnswer",
    "StationBook",
    "StationEnrollment",
    "StationGate",
    "StationGateSettings",
    "StationTaps",
]
