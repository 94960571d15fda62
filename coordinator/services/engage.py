"""Engagement: the chain's automations with what they did (the report), and the webhook
endpoints' delivery counts for the dashboard page."""

from __future__ import annotations

import json
from collections import defaultdict

import sqlalchemy as sa
from pydantic import Field

from coordinator import schema
from coordinator.engage.runner import run_automations
from coordinator.reports import queries
from coordinator.runtime import Coordinator
from coordinator.security.auth import Principal
from coordinator.services.common import Out, audit
from shared.model import DAY_MS

REVENUE_AFTER_DAYS = 30
"""The window after a run in which the member's money facts count as its revenue after."""


class AutomationRow(Out):
    """One automation of the chain's rules and what it has done so far."""

    automation_id: str
    name: str
    enabled: bool
    trigger: str = Field(description="The trigger kind (birthday, registration, ...).")
    actions: list[str] = Field(description="The action kinds, in order.")
    runs: int = Field(description="Occasions acted on (members x occasions).")
    last_run_ms: int | None
    notified: int = Field(description="Notifications queued for members.")
    sent: int = Field(description="Notifications a webhook endpoint accepted (2xx).")
    coupons_issued: int
    coupons_redeemed: int = Field(description="Coupons it issued that were redeemed since.")
    points_granted: int
    revenue_after_fen: int = Field(
        description=f"Money the members it acted on paid within {REVENUE_AFTER_DAYS} days "
        "after a run (purchases, top-ups less refunds, passes sold with a price; what was "
        "paid from stored value counts at its top-up), each fact once per automation."
    )


class AutomationRun(Out):
    """What one run of every automation over every member did."""

    members_seen: int
    runs: int = Field(description="New occasions acted on (0 when run again the same day).")
    by_automation: dict[str, int]


class EndpointStats(Out):
    """Delivery counts of one webhook endpoint."""

    endpoint_id: str
    url: str
    store_id: str | None
    event_types: list[str]
    enabled: bool
    disabled_reason: str
    pending: int
    delivered: int
    failed: int


def automation_report(coord: Coordinator, principal: Principal) -> list[AutomationRow]:
    """Every automation in the chain's rules with its runs, sends, coupons and points."""
    del principal  # every logged-in role may read it (automations are chain-wide)
    runs_t, n, d = schema.automation_runs, schema.notifications, schema.webhook_deliveries
    now = coord.clock.wall_ms()
    with coord.db.snapshot() as conn:
        rules = coord.rules(conn)
        runs: dict[str, int] = defaultdict(int)
        last: dict[str, int] = {}
        points: dict[str, int] = defaultdict(int)
        acted: dict[tuple[str, str], list[int]] = defaultdict(list)
        for automation_id, member_id, result, at_ms in conn.execute(
            sa.select(runs_t.c.automation_id, runs_t.c.member_id, runs_t.c.result, runs_t.c.at_ms)
        ):
            runs[automation_id] += 1
            last[automation_id] = max(last.get(automation_id, 0), at_ms)
            points[automation_id] += int(json.loads(result).get("points", 0))
            acted[(automation_id, member_id)].append(at_ms)
        money = queries.member_money_facts(
            conn,
            sorted({m for _, m in acted}),
            min((t for times in acted.values() for t in times), default=now),
        )
        notified: dict[str, int] = defaultdict(int)
        message_of: dict[str, str] = {}
        for key, notification_id in conn.execute(
            sa.select(n.c.dedupe_key, n.c.notification_id).where(n.c.dedupe_key.like("auto:%"))
        ):
            automation_id = key.split(":", 2)[1]
            notified[automation_id] += 1
            message_of[f"msg_{notification_id}"] = automation_id
        sent: dict[str, int] = defaultdict(int)
        delivered = conn.execute(
            sa.select(d.c.message_id).where(d.c.status == "delivered").distinct()
        ).scalars()
        for message_id in delivered:
            if message_id in message_of:
                sent[message_of[message_id]] += 1
        issued = queries.coupon_issues(conn, 0, now + 1, None)
        redeemed_by_coupon = {
            c: k for c, k in queries.coupon_redeems(conn, 0, now + 1, None).items() if k > 0
        }
        campaigns = queries.coupon_campaigns(
            conn, [c for c in redeemed_by_coupon if c.startswith("au-")]
        )
    redeemed: dict[str, int] = defaultdict(int)
    for campaign in campaigns.values():
        redeemed[campaign] += 1
    revenue = _revenue_after(acted, money, REVENUE_AFTER_DAYS * DAY_MS)
    return [
        AutomationRow(
            automation_id=a.automation_id,
            name=a.name,
            enabled=a.enabled,
            trigger=a.trigger.kind,
            actions=[action.kind for action in a.actions],
            runs=runs.get(a.automation_id, 0),
            last_run_ms=last.get(a.automation_id),
            notified=notified.get(a.automation_id, 0),
            sent=sent.get(a.automation_id, 0),
            coupons_issued=issued.get(f"auto:{a.automation_id}", 0),
            coupons_redeemed=redeemed.get(f"auto:{a.automation_id}", 0),
            points_granted=points.get(a.automation_id, 0),
            revenue_after_fen=revenue.get(a.automation_id, 0),
        )
        for a in rules.automations
    ]


def _revenue_after(
    acted: dict[tuple[str, str], list[int]],
    money: dict[str, list[tuple[int, int]]],
    window_ms: int,
) -> dict[str, int]:
    """automation id -> fen of the money facts of the members it acted on that fall within
    ``window_ms`` after one of its runs for that member (a fact after two runs counts once)."""
    out: dict[str, int] = defaultdict(int)
    for (automation_id, member_id), times in acted.items():
        for at_ms, fen in money.get(member_id, ()):
            if any(t <= at_ms < t + window_ms for t in times):
                out[automation_id] += fen
    return dict(out)


def endpoint_stats(coord: Coordinator, principal: Principal) -> list[EndpointStats]:
    """The endpoints the caller may see with their deliveries by status."""
    e, d = schema.webhook_endpoints, schema.webhook_deliveries
    query = sa.select(e).order_by(e.c.created_ms, e.c.endpoint_id)
    if (own := principal.store_filter()) is not None:
        query = query.where(e.c.store_id == own)
    with coord.db.snapshot() as conn:
        endpoints = list(conn.execute(query))
        counts: dict[tuple[str, str], int] = {
            (endpoint_id, status): int(k)
            for endpoint_id, status, k in conn.execute(
                sa.select(d.c.endpoint_id, d.c.status, sa.func.count()).group_by(
                    d.c.endpoint_id, d.c.status
                )
            )
        }
    return [
        EndpointStats(
            endpoint_id=row.endpoint_id,
            url=row.url,
            store_id=row.store_id,
            event_types=json.loads(row.event_types),
            enabled=row.enabled,
            disabled_reason=row.disabled_reason,
            pending=counts.get((row.endpoint_id, "pending"), 0),
            delivered=counts.get((row.endpoint_id, "delivered"), 0),
            failed=counts.get((row.endpoint_id, "failed"), 0),
        )
        for row in endpoints
    ]


def run_now(coord: Coordinator, principal: Principal) -> AutomationRun:
    """Run every automation over every member now (HQ admins), instead of waiting for the
    hourly run; occasions already acted on are skipped as always."""
    principal.require_admin()
    now = coord.clock.wall_ms()
    report = run_automations(coord.db, coord.recorder, coord.rules, now)
    with coord.db.write() as conn:
        audit(conn, principal.username, "automation.run_now", "automations", now, runs=report.runs)
    if report.hq_events:
        coord.pusher.wake()
    coord.webhooks.wake()
    return AutomationRun(
        members_seen=report.members_seen, runs=report.runs, by_automation=report.by_automation
    )
