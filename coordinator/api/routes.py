"""The routers of the JSON API, in their OpenAPI order (mounted by ``coordinator.app``)."""

from __future__ import annotations

from fastapi import APIRouter

from coordinator.api import (
    auth_routes,
    automations,
    balances,
    bookings,
    cards,
    coaching,
    conflicts,
    coupons,
    events,
    fleet,
    health,
    kiosks,
    member_bookings,
    member_devices,
    member_fields,
    member_page,
    members,
    money,
    ops,
    passes,
    points,
    purchases,
    reports,
    rules,
    self_service,
    software,
    stores,
    timetables,
    webhooks,
)

API_ROUTERS: tuple[APIRouter, ...] = (
    auth_routes.router,
    stores.router,
    timetables.router,
    bookings.router,
    coaching.router,
    kiosks.router,
    kiosks.enroll_router,
    members.router,
    member_fields.router,
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
    software.router,
    member_page.router,
    member_devices.router,
    member_bookings.router,
    self_service.router,
    health.router,
)

DASHBOARD_API_ROUTERS: tuple[APIRouter, ...] = (fleet.router, reports.router)
"""JSON routes the dashboard's pages read (mounted when the dashboard is on)."""
