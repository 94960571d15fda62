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
from coordinator.engage.audience import VisitHistory, member_facts, visit_history
from coordinator.ledger.hq_events import HqFact, HqRecorder
from coordinator.ledger.member_fold import lock_member_states
from coordinator.outbound import notify
from shared.automation import (
    AddTag,
    Automation,
    GrantPoints,
    IssueCoupon,
    Notify,
    ReferralTrigger,
)
from shared.engage import MemberFacts, in_segment, occasions, referral_due
from shared.events import Adjustment, CouponIssue
from shared.model import DAY_MS, CouponKind, CouponState, Rules

YEAR_MS = 365 * DAY_MS

log = logging.getLogger(__name__)

BATCH = 500
REFERRAL_BATCH = 200


@dataclass(frozen=True)
class Referral:
    """A referee whose visit earns their referrer (and maybe theirs) a reward."""

    automation: Automation
    referee: str
    referrer: str


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
    if any(a.needs_activity for a in automations):
        with db.snapshot() as conn:
            history = visit_history(conn, now_ms, rules.timezone)
    cursor = ""
    referrals: list[Referral] = []
    while True:
        with db.write() as conn:
            ids = _run_batch(
                conn, recorder, rules, automations, history, now_ms, cursor, batch, report,
                referrals,
            )  # fmt: skip
        if len(ids) < batch:
            break
        cursor = ids[-1]
    for start in range(0, len(referrals), REFERRAL_BATCH):
        with db.write() as conn:
            _reward_referrals(
                conn, recorder, history, referrals[start : start + REFERRAL_BATCH], now_ms, report
            )
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
    referrals: list[Referral],
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
    tags: dict[str, set[str]] = {}
    for member in member_facts(conn, ids, states, history):
        for automation in automations:
            trigger = automation.trigger
            if isinstance(trigger, ReferralTrigger):
                # Rewarded after the batches, under the referrers' own locks.
                if member.referred_by and referral_due(trigger, member, now_ms):
                    referrals.append(Referral(automation, member.member_id, member.referred_by))
                continue
            for occasion in occasions(automation, member, now_ms, rules.timezone, rules):
                key = (automation.automation_id, member.member_id, occasion)
                if key in done:
                    continue
                done.add(key)
                result = _act(conn, automation, member, occasion, now_ms, facts, tags)
                run_rows.append(
                    _run_row(automation.automation_id, member.member_id, occasion, now_ms, result)
                )
                report.by_automation[automation.automation_id] = (
                    report.by_automation.get(automation.automation_id, 0) + 1
                )
    _commit_runs(conn, recorder, run_rows, tags, facts, now_ms, report)
    return ids


def _reward_referrals(
    conn: Connection,
    recorder: HqRecorder,
    history: VisitHistory,
    referrals: list[Referral],
    now_ms: int,
    report: AutomationReport,
) -> None:
    """Reward the referrers (and, for two-level referrals, theirs) of these referees: each
    once per referee and level, at most ``max_per_year`` a year, if in the segment."""
    m, runs = schema.members, schema.automation_runs
    referrers = sorted({r.referrer for r in referrals})
    above = dict(
        conn.execute(
            sa.select(m.c.member_id, m.c.referrer_id).where(m.c.member_id.in_(referrers))
        ).all()
    )
    # (automation, beneficiary, occasion) for each level.
    wanted: list[tuple[Automation, str, str]] = []
    for r in referrals:
        wanted.append((r.automation, r.referrer, f"referral:{r.referee}"))
        trigger = r.automation.trigger
        grand = above.get(r.referrer)
        if isinstance(trigger, ReferralTrigger) and trigger.second_level and grand:
            wanted.append((r.automation, grand, f"referral2:{r.referee}"))
    wanted = [w for w in wanted if w[1] != w[2].split(":", 1)[1]]  # never one's own referrer
    beneficiaries = sorted({b for _, b, _ in wanted})
    states = lock_member_states(conn, beneficiaries)
    ids = sorted({a.automation_id for a, _, _ in wanted})
    done: set[tuple[str, str, str]] = set()
    this_year: dict[tuple[str, str], int] = {}
    for automation_id, member_id, occasion, at_ms in conn.execute(
        sa.select(runs.c.automation_id, runs.c.member_id, runs.c.occasion, runs.c.at_ms).where(
            runs.c.member_id.in_(beneficiaries), runs.c.automation_id.in_(ids)
        )
    ):
        done.add((automation_id, member_id, occasion))
        if at_ms > now_ms - YEAR_MS:
            key = (automation_id, member_id)
            this_year[key] = this_year.get(key, 0) + 1
    people = {f.member_id: f for f in member_facts(conn, beneficiaries, states, history)}
    facts: list[HqFact] = []
    run_rows: list[dict[str, Any]] = []
    tags: dict[str, set[str]] = {}
    for automation, member_id, occasion in wanted:
        member = people.get(member_id)
        trigger = automation.trigger
        assert isinstance(trigger, ReferralTrigger)
        key = (automation.automation_id, member_id)
        if (
            member is None
            or not member.active
            or (automation.automation_id, member_id, occasion) in done
            or this_year.get(key, 0) >= trigger.max_per_year
            or not in_segment(automation.segment, member)
        ):
            continue
        done.add((automation.automation_id, member_id, occasion))
        this_year[key] = this_year.get(key, 0) + 1
        result = _act(conn, automation, member, occasion, now_ms, facts, tags)
        run_rows.append(_run_row(automation.automation_id, member_id, occasion, now_ms, result))
        report.by_automation[automation.automation_id] = (
            report.by_automation.get(automation.automation_id, 0) + 1
        )
    _commit_runs(conn, recorder, run_rows, tags, facts, now_ms, report)


def _run_row(
    automation_id: str, member_id: str, occasion: str, now_ms: int, result: dict[str, Any]
) -> dict[str, Any]:
    return {
        "automation_id": automation_id,
        "member_id": member_id,
        "occasion": occasion[:160],
        "at_ms": now_ms,
        "result": json.dumps(result, ensure_ascii=False, sort_keys=True),
    }


def _commit_runs(
    conn: Connection,
    recorder: HqRecorder,
    run_rows: list[dict[str, Any]],
    tags: dict[str, set[str]],
    facts: list[HqFact],
    now_ms: int,
    report: AutomationReport,
) -> None:
    """Write the runs, their audit rows and tags, and record their hq facts."""
    if not run_rows:
        return
    conn.execute(sa.insert(schema.automation_runs), run_rows)
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
    if tags:
        m = schema.members
        conn.execute(
            sa.update(m)
            .where(m.c.member_id == sa.bindparam("mid"))
            .values(tags=sa.bindparam("new_tags")),
            [
                {"mid": member_id, "new_tags": json.dumps(sorted(t), ensure_ascii=False)}
                for member_id, t in sorted(tags.items())
            ],
        )
    recorder.record(conn, facts, now_ms)
    report.runs += len(run_rows)
    report.hq_events += len(facts)


def _act(
    conn: Connection,
    automation: Automation,
    member: MemberFacts,
    occasion: str,
    now_ms: int,
    facts: list[HqFact],
    tags: dict[str, set[str]],
) -> dict[str, Any]:
    """Do an automation's actions for one member and occasion (hq facts and tags are
    collected for the batch); returns what was done."""
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
            tags.setdefault(member.member_id, set(member.tags)).add(action.tag)
            done["tag"] = action.tag
        elif isinstance(action, Notify):
            m = schema.members
            contact = conn.execute(
                sa.select(m.c.display_name, m.c.phone, m.c.lang).where(
                    m.c.member_id == member.member_id
                )
            ).one()
            done["notification_id"] = notify.enqueue(
                conn,
                kind=automation.trigger.kind,
                dedupe_key=f"{actor}:{member.member_id}:{occasion}",
                # What the chain's gateway needs to send it: whom, in which language.
                payload={
                    "automation_id": automation.automation_id,
                    "occasion": occasion,
                    "text_zh": action.text_zh,
                    "text_en": action.text_en,
                    "lang": contact.lang,
                    "phone": contact.phone,
                    "display_name": contact.display_name,
                    "coupon_id": done.get("coupon_id"),
                },
                now_ms=now_ms,
                member_id=member.member_id,
                store_id=member.home_store_id,
            )
    return done
