"""Errors raised by the reader adapters."""

from __future__ import annotations

from device.errors import DeviceError


class ReaderError(DeviceError):
    """Base of every card reader and camera error."""

    code = "reader_error"


class ReaderUnavailable(ReaderError):
    """The NFC reader could not be opened or stopped working (unplugged, no driver, busy)."""

    code = "reader_unavailable"


class FrameSourceError(ReaderError):
    """The camera could not be opened or stopped delivering frames."""

    code = "camera_unavailable"


class DecodeError(ReaderError):
    """An image could not be decoded (unreadable file, unsupported array, unknown backend)."""

    code = "decode_error"
