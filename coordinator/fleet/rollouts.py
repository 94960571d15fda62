"""Watching rollouts: which kiosks applied a rule bundle or a coupon campaign.

Kiosks report the versions they applied in every heartbeat. A rule bundle is applied by a
kiosk in its scope once the kiosk reports that rules version (or a newer one); a coupon
campaign reaches kiosks inside member pushes, so it is applied once the kiosk reports the
members version that carried the campaign's last member (see
:func:`coordinator.fleet.monitor.resolve_campaign_targets`; "waiting to be pushed"
until that version is known).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.ledger.jsonrows import loads_list
from coordinator.schema import rollout_targets

RECENT = 10


def _progress(kiosks: Sequence[dict[str, Any]], name: str, version: int | None) -> dict[str, Any]:
    if version is None:
        return {"target": None, "applied": [], "waiting": [k["kiosk_id"] for k in kiosks]}
    applied: list[str] = []
    waiting: list[str] = []
    for k in kiosks:
        have = k["versions"][name]["applied"]
        (applied if have is not None and have >= version else waiting).append(k["kiosk_id"])
    return {"target": version, "applied": applied, "waiting": waiting}


def status(
    conn: Connection, kiosks: Sequence[dict[str, Any]], store_id: str | None
) -> dict[str, Any]:
    """Recent bundles and campaigns with the kiosks that applied them (of one store, if given).

    ``kiosks`` are fleet views (already limited to what the caller may see).
    """
    live = [k for k in kiosks if not k["revoked"]]
    rb = schema.rule_bundles
    bundles = []
    for row in conn.execute(
        sa.select(
            rb.c.bundle_id,
            rb.c.version,
            rb.c.store_scope,
            rb.c.note,
            rb.c.published_by,
            rb.c.published_ms,
        )
        .where(rb.c.status == "published")
        .order_by(rb.c.version.desc())
        .limit(RECENT * 3)
    ):
        scope = loads_list(row.store_scope)
        if store_id is not None and scope and store_id not in scope:
            continue
        targets = [k for k in live if not scope or k["store_id"] in scope]
        bundles.append(
            {
                "bundle_id": row.bundle_id,
                "version": row.version,
                "store_ids": scope,
                "note": row.note,
                "published_by": row.published_by,
                "published_ms": row.published_ms,
                **_progress(targets, "rules", int(row.version)),
            }
        )
        if len(bundles) >= RECENT:
            break

    camp = schema.campaigns
    rt = rollout_targets
    campaigns = []
    for row in conn.execute(
        sa.select(camp, rt.c.members_version, rt.c.member_count)
        .select_from(camp.outerjoin(rt, rt.c.campaign_id == camp.c.campaign_id))
        .order_by(camp.c.created_ms.desc())
        .limit(RECENT * 3)
    ):
        coupon = json.loads(row.coupon_template)
        scope = [str(s) for s in coupon.get("store_ids", [])]
        segment = json.loads(row.segment)
        home = segment.get("home_store_id")
        if store_id is not None and scope and store_id not in scope:
            continue
        if store_id is not None and home and home != store_id:
            continue
        campaigns.append(
            {
                "campaign_id": row.campaign_id,
                "title": row.title,
                "issued": row.issued_count,
                "store_ids": scope,
                "home_store_id": home,
                "created_by": row.created_by,
                "created_ms": row.created_ms,
                **_progress(
                    live,
                    "members",
                    None if row.members_version is None else int(row.members_version),
                ),
            }
        )
        if len(campaigns) >= RECENT:
            break
    return {"bundles": bundles, "campaigns": campaigns}
