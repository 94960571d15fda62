"""Exception base of the kiosk (``device``) package."""

from __future__ import annotations

from shared.errors import TapfleetError


class DeviceError(TapfleetError):
    """Base of every error the kiosk software raises on purpose."""

    code = "device_error"
