"""The routers of the JSON API, in their OpenAPI order (mounted by ``coordinator.app``)."""

from __future__ import annotations

from fastapi import APIRouter

from coordinator.api import (
    auth_routes,
    automations,
    balances,
    cards,
    conflicts,
    coupons,
    events,
    fleet,
    health,
    kiosks,
    member_devices,
    member_page,
    members,
    money,
    ops,
    passes,
    points,
    purchases,
    reports,
    rules,
    stores,
    timetables,
    webhooks,
)

API_ROUTERS: tuple[APIRouter, ...] = (
    auth_routes.router,
    stores.router,
    timetables.router,
    kiosks.router,
    kiosks.enroll_router,
    members.router,
    cards.router,
    passes.router,
    points.router,
    money.router,
    purchases.router,
    coupons.router,
    rules.router,
    conflicts.router,
    events.router,
    balances.router,
    ops.router,
    webhooks.router,
    automations.router,
    member_page.router,
    member_devices.router,
    health.router,
)

DASHBOARD_API_ROUTERS: tuple[APIRouter, ...] = (fleet.router, reports.router)
"""JSON routes the dashboard's pages read (mounted when the dashboard is on)."""
