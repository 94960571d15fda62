"""Reader faults for tests and demos: a reader that can be unplugged and plugged back in.

What is simulated: the USB cable. nfcpy's USB and serial drivers raise ``IOError`` from any
driver call once the reader is gone, and ``ContactlessFrontend.open`` finds no device until
it is back. ``UnpluggableReader`` reproduces exactly that at nfcpy's driver boundary
(``clf.device``, the object ``ContactlessFrontend`` calls for sense/exchange): the real udp
driver underneath keeps doing the real work while plugged in. Nothing in the reader under
test is patched; it gets the factory like any other way to open a frontend.
"""

from __future__ import annotations

import errno
import os
import threading
from typing import Any

from device.readers.errors import ReaderUnavailable
from device.readers.nfc_reader import Frontend, open_frontend


class UnpluggableReader:
    """Hands out real nfcpy frontends whose driver fails while "unplugged"."""

    def __init__(self, plugged: bool = True) -> None:
        self._plugged = threading.Event()
        if plugged:
            self._plugged.set()
        self.opens = 0
        """Successful opens (the reader under test reopened after a fault)."""

    @property
    def plugged(self) -> bool:
        """True while the reader is connected."""
        return self._plugged.is_set()

    def unplug(self) -> None:
        """Pull the cable: every driver call now raises ENODEV, opening finds nothing."""
        self._plugged.clear()

    def replug(self) -> None:
        """Plug it back in: the next open succeeds."""
        self._plugged.set()

    def factory(self, path: str) -> Frontend:
        """Open a frontend on ``path`` (a ``frontend_factory`` for ``NfcReader``)."""
        if not self.plugged:
            raise ReaderUnavailable(
                f"no NFC reader found on {path!r} (unplugged, or no access to the USB device)"
            )
        clf = open_frontend(path)
        clf.device = _Driver(clf.device, self._plugged)
        self.opens += 1
        return clf


class _Driver:
    """Proxy for an nfcpy driver object that raises ENODEV while unplugged."""

    def __init__(self, device: Any, plugged: threading.Event) -> None:
        self._device = device
        self._plugged = plugged

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._device, name)
        if not callable(attr) or name == "close":
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            if not self._plugged.is_set():
                raise OSError(errno.ENODEV, os.strerror(errno.ENODEV))
            return attr(*args, **kwargs)

        return call

    def __str__(self) -> str:
        return str(self._device)
