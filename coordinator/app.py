"""``create_app(settings, ...)``: the one place that wires the coordinator and its HTTP API.

Nothing connects or opens a database when this module is imported; the app's lifespan
starts the :class:`~coordinator.runtime.Coordinator` (migrations, MQTT, workers) and stops
it on shutdown.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from coordinator.clock import Clock
from coordinator.db import Database
from coordinator.errors import ApiError
from coordinator.runtime import Coordinator
from coordinator.settings import CoordinatorSettings

log = logging.getLogger(__name__)


def _error(
    status: int,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        status_code=status,
        content={"error": {"code": code, "message": message, "field": field}},
        headers=headers,
    )


def _field(loc: Sequence[object]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:] or parts
    return ".".join(parts) or "<root>"


def install_error_handlers(app: FastAPI) -> None:
    """Every error leaves as ``{"error": {"code", "message", "field"}}``; bad input is a 4xx."""

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.code, exc.message, exc.field, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        code = "invalid_json" if first.get("type") == "json_invalid" else "invalid_field"
        return _error(422, code, str(first.get("msg")), _field(first.get("loc", ())))

    @app.exception_handler(ValidationError)
    async def _invalid_value(_request: Request, exc: ValidationError) -> JSONResponse:
        first = exc.errors()[0]
        return _error(422, "invalid_value", first["msg"], _field(first["loc"]))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 401: "not_authenticated"}
        return _error(exc.status_code, codes.get(exc.status_code, "http_error"), str(exc.detail))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
        return _error(500, "internal_error", "the coordinator failed; the error was logged")


def create_app(
    settings: CoordinatorSettings,
    *,
    clock: Clock | None = None,
    database: Database | None = None,
    coordinator: Coordinator | None = None,
) -> FastAPI:
    """Build the coordinator and its API. Starting happens in the app's lifespan."""
    from coordinator.api import routes
    from coordinator.dashboard import install as install_dashboard

    coord = coordinator or Coordinator(settings, clock=clock, database=database)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        coord.start()
        if dashboard is not None:
            dashboard.start()
        try:
            yield
        finally:
            if dashboard is not None:
                dashboard.stop()
            coord.stop()

    app = FastAPI(
        title="Tapfleet coordinator",
        version="1",
        description=(
            "Central ledger of the Tapfleet kiosk fleet: stores, kiosks, members, cards, "
            "passes, coupons, rule bundles, conflicts, events and balances. Authenticate "
            "with POST /api/v1/auth/token (OAuth2 password flow) and send the bearer token."
        ),
        lifespan=lifespan,
    )
    app.state.coordinator = coord
    install_error_handlers(app)
    routes.include_all(app)
    dashboard = install_dashboard(app, coord)
    return app
