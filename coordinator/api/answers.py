"""The status codes a route can answer with, documented with the one error model.

Every route lists its error statuses through :func:`answers`, so the OpenAPI document says
exactly what a client may get back (the contract test checks the running coordinator
against it). ``422`` is always listed for routes with parameters or a body: it replaces
FastAPI's default validation-error schema with :class:`~coordinator.errors.ErrorBody`,
which is what the coordinator really sends.
"""

from __future__ import annotations

from typing import Any

from coordinator.errors import ErrorBody

WHAT = {
    401: "Not logged in, or the token expired: log in again.",
    403: "The caller's role or store does not allow this.",
    404: "A resource named in the path or body does not exist (or is not visible).",
    409: "The request contradicts the current state (already exists, already done...).",
    422: "A value is missing, malformed or not acceptable; ``field`` names it.",
    429: "Too many attempts: wait for the ``Retry-After`` header's seconds.",
    503: "A dependency of this request is unavailable (see the message).",
}


def answers(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses, each with the error model."""
    return {status: {"model": ErrorBody, "description": WHAT[status]} for status in statuses}


USER = answers(401, 403, 422)
"""What any route that needs a login can answer besides its success."""


def page_answers(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """:func:`answers` for routes whose success is not JSON (an HTML page, an image): their
    errors are still the JSON error model, which FastAPI would otherwise document under the
    route's own media type."""
    ref = {"$ref": "#/components/schemas/ErrorBody"}
    return {
        status: {"description": WHAT[status], "content": {"application/json": {"schema": ref}}}
        for status in statuses
    }
