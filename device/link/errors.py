"""Errors of the kiosk's MQTT link."""

from __future__ import annotations

from device.errors import DeviceError


class LinkError(DeviceError):
    """Base of every error the link raises on purpose."""

    code = "link_error"


class DownstreamRefused(LinkError):
    """A downstream message was refused; ``counter`` names the LinkState counter it bumps."""

    code = "downstream_refused"

    def __init__(self, counter: str, message: str) -> None:
        self.counter = counter
        super().__init__(message)
