"""Exception hierarchy shared by every Tapfleet package."""

from __future__ import annotations


class TapfleetError(Exception):
    """Base of every error Tapfleet raises on purpose."""

    code: str = "tapfleet_error"


class ProtocolError(TapfleetError):
    """A wire payload could not be decoded or failed validation.

    ``field`` names the first offending field (dotted path) so that an operator reading the
    log knows which producer to fix; ``kiosk_id`` is filled when the sender is known.
    """

    code = "protocol_error"

    def __init__(self, message: str, *, field: str | None = None, kiosk_id: str | None = None):
        self.field = field
        self.kiosk_id = kiosk_id
        where = f" (field: {field})" if field else ""
        super().__init__(f"{message}{where}")


class PayloadTooLarge(ProtocolError):
    """The payload exceeds the protocol's size limit; it was not parsed."""

    code = "payload_too_large"


class UnsupportedVersion(ProtocolError):
    """The payload declares a protocol version this code does not speak."""

    code = "unsupported_version"


class TopicError(TapfleetError):
    """A topic string is not part of the Tapfleet topic tree."""

    code = "bad_topic"


class TokenError(TapfleetError):
    """A member QR token failed verification. ``reason`` is a RejectReason value."""

    code = "token_error"

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__(message)
