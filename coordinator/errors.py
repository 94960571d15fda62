"""Errors the coordinator raises on purpose.

:class:`ApiError` carries what an API client needs: an HTTP status, a stable machine code,
a sentence saying what to do, and the offending field. The API turns it into
``{"error": {"code", "message", "field"}}``.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from shared.errors import TapfleetError


class ErrorDetail(BaseModel):
    """What went wrong, for a program (``code``) and for a person (``message``)."""

    model_config = ConfigDict(extra="forbid")

    code: str = Field(description="Stable machine-readable code, e.g. ``member_not_found``.")
    message: str = Field(description="A sentence saying what is wrong and what to do next.")
    field: str | None = Field(
        description="The offending request field (dotted path), when one is to blame."
    )


class ErrorBody(BaseModel):
    """The one error envelope of the API: every 4xx and 5xx answer has this shape."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorDetail


class CoordinatorError(TapfleetError):
    """Base of the coordinator's own errors."""

    code = "coordinator_error"


class ApiError(CoordinatorError):
    """A request that cannot be served as asked (always a 4xx)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ):
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers
        """Extra response headers (e.g. ``Retry-After`` on a 429)."""
        super().__init__(message)


def not_found(what: str, ident: str, field: str | None = None) -> ApiError:
    """404 for a missing resource, naming it."""
    return ApiError(404, f"{what}_not_found", f"no {what.replace('_', ' ')} {ident!r}", field)


def conflict(code: str, message: str, field: str | None = None) -> ApiError:
    """409: the request contradicts the current state."""
    return ApiError(409, code, message, field)


def invalid(code: str, message: str, field: str | None = None) -> ApiError:
    """422: the request is well-formed but its values are not acceptable."""
    return ApiError(422, code, message, field)


def forbidden(message: str, code: str = "forbidden") -> ApiError:
    """403: the caller's role or store does not allow this."""
    return ApiError(403, code, message)


class IngestRejected(CoordinatorError):
    """An incoming MQTT message was refused; ``reason`` is the counter label."""

    code = "ingest_rejected"

    def __init__(self, reason: str, message: str, *, kiosk_id: str | None = None):
        self.reason = reason
        self.kiosk_id = kiosk_id
        super().__init__(message)
