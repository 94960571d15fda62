"""Tapfleet door station firmware (MicroPython): a card reader by a classroom door.

The station reads a card's UID through its NFC chip, asks its store's kiosk what the tap
means (the kiosk keeps the ledger and decides), and shows the answer with a light and a
beep. Modules, one job each: ``pn532`` (the chip's host protocol), ``reader`` (card reads on
top of it), ``debounce``, ``hmac256`` and ``wire`` (the signed station protocol), ``kiosk``
(HTTP to the kiosk), ``buffer`` and ``counter`` (offline taps, request numbers), ``signals``
(LED and buzzer), ``wifi``, ``config``, ``station`` (the state machine) and ``board`` (wiring
to ``machine``/``network`` on a real board).
"""

FIRMWARE_VERSION = "0.1.0"
