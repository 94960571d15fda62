"""The automation runner: every automation of the chain's rules over every member, at most
once per member per occasion.

Members are taken in batches by id, each batch in one transaction that first locks the
members' state rows (as every ledger write does), then reads which occasions already ran:
a second replica running at the same time waits on the locks and then finds the first
one's runs, and the unique ``(automation, member, occasion)`` row is the last word. What an
automation does is recorded in the same transaction as its run: coupons and points are hq
events (a points grant is an ``Adjustment`` by ``auto:<automation>``, so it is audited
like any correction), a tag is written on the member, a notification goes to the outbox,
and the audit log names the automation, the member and the occasion.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.db import Database
from coordinator.engage.audience import VisitHistory, member_facts, member_tags, visit_history
from coordinator.ledger.hq_events import HqFact, HqRecorder
from coordinator.ledger.member_fold import lock_member_states
from coordinator.outbound import notify
from shared.automation import AddTag, Automation, GrantPoints, IssueCoupon, Notify
from shared.engage import MemberFacts, occasions
from shared.events import Adjustment, CouponIssue
from shared.model import DAY_MS, CouponKind, CouponState, Rules

log = logging.getLogger(__name__)

BATCH = 500


@dataclass
class AutomationReport:
    """What one run did."""

    members_seen: int = 0
    runs: int = 0
    by_automation: dict[str, int] = field(default_factory=dict)
    hq_events: int = 0


def coupon_id_for(automation_id: str, member_id: str, occasion: str) -> str:
    """The coupon an automation issues on an occasion: the same id however often it runs."""
    digest = hashlib.sha256(f"{automation_id}|{member_id}|{occasion}".encode()).hexdigest()
    return f"au-{digest[:28]}"


def run_automations(
    db: Database,
    recorder: HqRecorder,
    rules_provider: Callable[[Connection], Rules],
    now_ms: int,
    *,
    batch: int = BATCH,
) -> AutomationReport:
    """Run every enabled automation over every member once (batch by batch)."""
    report = AutomationReport()
    with db.read() as conn:
        rules = rules_provider(conn)
    automations = [a for a in rules.automations if a.enabled]
    if not automations:
        return report
    history = VisitHistory()
    if any(a.segment.needs_activity for a in automations):
        with db.snapshot() as conn:
            history = visit_history(conn, now_ms, rules.timezone)
    cursor = ""
    while True:
        with db.write() as conn:
            ids = _run_batch(
                conn, recorder, rules, automations, history, now_ms, cursor, batch, report
            )
        if len(ids) < batch:
            break
        cursor = ids[-1]
    if report.runs:
        log.info("automations: %d run(s) over %d member(s)", report.runs, report.members_seen)
    return report


def _run_batch(
    conn: Connection,
    recorder: HqRecorder,
    rules: Rules,
    automations: list[Automation],
    history: VisitHistory,
    now_ms: int,
    cursor: str,
    batch: int,
    report: AutomationReport,
) -> list[str]:
    m, runs = schema.members, schema.automation_runs
    ids = list(
        conn.execute(
            sa.select(m.c.member_id)
            .where(m.c.member_id > cursor)
            .order_by(m.c.member_id)
            .limit(batch)
        ).scalars()
    )
    if not ids:
        return ids
    states = lock_member_states(conn, ids)
    report.members_seen += len(ids)
    done = {
        (r.automation_id, r.member_id, r.occasion)
        for r in conn.execute(
            sa.select(runs.c.automation_id, runs.c.member_id, runs.c.occasion).where(
                runs.c.member_id.in_(ids),
                runs.c.automation_id.in_([a.automation_id for a in automations]),
            )
        )
    }
    facts: list[HqFact] = []
    run_rows: list[dict[str, Any]] = []
    for member in member_facts(conn, ids, states, history):
        for automation in automations:
            for occasion in occasions(automation, member, now_ms, rules.timezone):
                key = (automation.automation_id, member.member_id, occasion)
                if key in done:
                    continue
                done.add(key)
                result = _act(conn, automation, member, occasion, now_ms, facts)
                run_rows.append(
                    {
                        "automation_id": automation.automation_id,
                        "member_id": member.member_id,
                        "occasion": occasion[:160],
                        "at_ms": now_ms,
                        "result": json.dumps(result, ensure_ascii=False, sort_keys=True),
                    }
                )
                report.by_automation[automation.automation_id] = (
                    report.by_automation.get(automation.automation_id, 0) + 1
                )
    if run_rows:
        conn.execute(sa.insert(runs), run_rows)
        conn.execute(
            sa.insert(schema.audit_log),
            [
                {
                    "at_ms": now_ms,
                    "actor": f"auto:{r['automation_id']}",
                    "action": "automation.run",
                    "target": r["member_id"],
                    "detail": json.dumps(
                        {"occasion": r["occasion"], "result": json.loads(r["result"])},
                        ensure_ascii=False,
                        sort_keys=True,
                    ),
                }
                for r in run_rows
            ],
        )
        recorder.record(conn, facts, now_ms)
        report.runs += len(run_rows)
        report.hq_events += len(facts)
    return ids


def _act(
    conn: Connection,
    automation: Automation,
    member: MemberFacts,
    occasion: str,
    now_ms: int,
    facts: list[HqFact],
) -> dict[str, Any]:
    """Do an automation's actions for one member and occasion; returns what was done."""
    done: dict[str, Any] = {}
    actor = f"auto:{automation.automation_id}"
    for action in automation.actions:
        if isinstance(action, IssueCoupon):
            coupon_id = coupon_id_for(automation.automation_id, member.member_id, occasion)
            coupon = CouponState(
                coupon_id=coupon_id,
                campaign_id=actor,
                kind=CouponKind(action.coupon_kind),
                title=action.title,
                value=action.value,
                store_ids=action.store_ids,
                valid_from_ms=now_ms,
                valid_until_ms=now_ms + action.valid_days * DAY_MS,
            )
            facts.append(HqFact(member_id=member.member_id, body=CouponIssue(coupon=coupon)))
            done["coupon_id"] = coupon_id
        elif isinstance(action, GrantPoints):
            body = Adjustment(
                staff_user=actor,
                reason=f"{automation.name} ({occasion})"[:200],
                points_delta=action.points,
            )
            facts.append(HqFact(member_id=member.member_id, body=body))
            done["points"] = done.get("points", 0) + action.points
        elif isinstance(action, AddTag):
            current = conn.execute(
                sa.select(schema.members.c.tags).where(
                    schema.members.c.member_id == member.member_id
                )
            ).scalar()
            tags = sorted(member_tags(current) | {action.tag})
            conn.execute(
                sa.update(schema.members)
                .where(schema.members.c.member_id == member.member_id)
                .values(tags=json.dumps(tags, ensure_ascii=False))
            )
            done["tag"] = action.tag
        elif isinstance(action, Notify):
            done["notification_id"] = notify.enqueue(
                conn,
                kind=automation.trigger.kind,
                dedupe_key=f"{actor}:{member.member_id}:{occasion}",
                payload={
                    "automation_id": automation.automation_id,
                    "occasion": occasion,
                    "text_zh": action.text_zh,
                    "text_en": action.text_en,
                },
                now_ms=now_ms,
                member_id=member.member_id,
                store_id=member.home_store_id,
            )
    return done
