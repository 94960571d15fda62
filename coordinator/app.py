"""``create_app(settings, ...)``: the one place that wires the coordinator and its HTTP API.

Nothing connects or opens a database when this module is imported; the app's lifespan
starts the :class:`~coordinator.runtime.Coordinator` (migrations, MQTT, workers) and stops
it on shutdown.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from coordinator.api.routes import API_ROUTERS, DASHBOARD_API_ROUTERS
from coordinator.clock import Clock
from coordinator.dashboard import (
    coach_pages,
    field_pages,
    member_pages,
    pages,
    product_pages,
    staff_pages,
)
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
    async def _server_bug(request: Request, exc: ValidationError) -> JSONResponse:
        # Request input is validated before a route runs (RequestValidationError above);
        # a pydantic error raised later is the coordinator's own bug, never the client's.
        log.error(
            "invalid value built by the server on %s %s",
            request.method,
            request.url.path,
            exc_info=exc,
        )
        return _error(500, "internal_error", "the coordinator failed; the error was logged")

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # Starlette's "error parsing the body" (bytes that are not JSON or a form):
            # the same answer as any other malformed body.
            return _error(422, "invalid_json", str(exc.detail), "<body>")
        codes = {404: "not_found", 405: "method_not_allowed", 401: "not_authenticated"}
        code = codes.get(exc.status_code, "http_error")
        # Keep the headers (405 carries ``Allow``, 401 ``WWW-Authenticate``).
        return _error(exc.status_code, code, str(exc.detail), headers=exc.headers)

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
    coord = coordinator or Coordinator(settings, clock=clock, database=database)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        coord.start()
        if coord.live is not None:
            coord.live.start(asyncio.get_running_loop())
        try:
            yield
        finally:
            if coord.live is not None:
                coord.live.stop()
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
    mount_all(app, dashboard=coord.live is not None)
    return app


def mount_all(app: FastAPI, *, dashboard: bool) -> None:
    """Every router of the coordinator, mounted here and nowhere else (in the OpenAPI order):
    the JSON API, then (when the dashboard is on) the fleet and report routes and pages."""
    for router in API_ROUTERS:
        app.include_router(router)
    if dashboard:
        for router in DASHBOARD_API_ROUTERS:
            app.include_router(router)
        app.include_router(pages.router)
        app.include_router(member_pages.router)
        app.include_router(product_pages.router)
        app.include_router(field_pages.router)
        app.include_router(staff_pages.router)
        app.include_router(coach_pages.router)
        app.mount(pages.STATIC_PATH, pages.static_files(), name="dashboard-static")
        app.add_exception_handler(pages.LoginRequired, pages.to_login)
