"""Mounts every router of the API on the app."""

from __future__ import annotations

from fastapi import FastAPI

from coordinator.api import (
    auth_routes,
    balances,
    cards,
    conflicts,
    coupons,
    events,
    health,
    kiosks,
    member_page,
    members,
    ops,
    passes,
    points,
    rules,
    stores,
)

ROUTERS = (
    auth_routes,
    stores,
    kiosks,
    members,
    cards,
    passes,
    points,
    coupons,
    rules,
    conflicts,
    events,
    balances,
    ops,
    member_page,
    health,
)


def include_all(app: FastAPI) -> None:
    """Include the routers in a stable order (it is the OpenAPI order)."""
    for module in ROUTERS:
        app.include_router(module.router)
    app.include_router(kiosks.enroll_router)
