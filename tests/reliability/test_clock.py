"""Kiosks reboot with wrong clocks (years ahead, years behind, minutes fast): events stay in
order, the ledger stays right, and ops are told.

Four real kiosk processes in one store, against the real coordinator. After a first, sane
day they lose power and come back with their wall clocks wrong (the test hook of
``kiosk_host``: a skewed wall clock, an honest monotonic one). One boots years ahead with
no network, the situation that used to poison a kiosk: valid passes judged expired and an
HLC carried into 2038 for good (``device.ledger.trusted_time`` is the fix).
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from coordinator import schema
from shared.events import Event
from simulators.waiting import wait_until
from tests.reliability.audit import full_audit, read_journal
from tests.reliability.fleet import DAY, MINUTE, Chain, Fleet, open_class

YEAR = 365 * DAY
SKEWS = {"ahead": 12 * YEAR, "behind": -12 * YEAR, "fast": 10 * MINUTE, "sane": 0}
LIMIT_MS = 300_000
"""``Rules.clock_skew_flag_s`` by default: further off than this is flagged."""


@pytest.mark.slow
def test_kiosks_rebooting_with_wrong_clocks_keep_order_and_are_flagged(fleet: Fleet) -> None:
    now = fleet.now_ms()
    chain = fleet.seed(
        Chain(
            stores=["s1"],
            kiosks=[(k, "s1") for k in SKEWS],
            members=12,
            classes=[open_class("yoga", "s1", now)],
        )
    )
    m = chain.member_ids()
    for kiosk_id in SKEWS:
        fleet.add_host(kiosk_id, [kiosk_id])
    fleet.wait_ready()
    for i, kiosk_id in enumerate(SKEWS):  # a sane first day: every ledger knows the time
        assert fleet.tap(kiosk_id, chain.uid(m[i]))["outcome"] == "accepted"
    fleet.wait_converged()

    # Power loss; the Pis come back with their clocks wrong, "ahead" without network.
    for host in fleet.hosts.values():
        host.kill()
    fleet.cut("ahead")
    for host in fleet.hosts.values():
        fleet.restart(host, wall_skew_ms=SKEWS)

    # Years ahead and offline: the wall clock is not believed, valid passes stay valid.
    ahead = fleet.states()["ahead"]
    assert ahead["time_source"] == "floor"
    assert ahead["wall_ms"] - fleet.now_ms() > 11 * YEAR
    line = fleet.tap("ahead", chain.uid(m[4]))
    assert line["outcome"] == "accepted" and line["events"][0][2] == "class_signin", line
    _, _, _, hlc_ms, _, wall_ms = line["events"][0]
    assert abs(hlc_ms - fleet.now_ms()) < MINUTE
    assert wall_ms - fleet.now_ms() > 11 * YEAR  # kept as evidence

    # The others are online: their time comes from the coordinator.
    others = ["behind", "fast", "sane"]
    wait_until(
        lambda: all(
            (s := fleet.states()[k])["online"] and s["time_source"] == "coordinator" for k in others
        ),
        30,
        "the online kiosks to take the coordinator's time",
    )
    for i, kiosk_id in enumerate(others, start=5):
        line = fleet.tap(kiosk_id, chain.uid(m[i]))
        assert line["outcome"] == "accepted", line
        assert abs(line["events"][0][3] - fleet.now_ms()) < MINUTE

    # Causality across kiosks: "fast" signs m8 in; once the coordinator has applied it and
    # "sane" has heard from the coordinator since, "sane"'s own tap of m8 orders after it,
    # although "fast"'s wall clock is ten minutes ahead of "sane"'s.
    first = fleet.tap("fast", chain.uid(m[8]))
    fleet.wait_drained(kiosk_ids=["fast"])
    fleet.tap("sane", chain.uid(m[9]))
    wait_until(
        lambda: (s := fleet.states()["sane"])["link_acked_seq"] == s["last_seq"],
        30,
        "the coordinator's Ack to reach the sane kiosk",
    )
    second = fleet.tap("sane", chain.uid(m[8]))
    assert first["events"][0][5] > second["events"][0][5]  # wall clocks say the reverse

    fleet.restore("ahead")
    wait_until(lambda: fleet.states()["ahead"]["time_source"] == "coordinator", 30, "ahead to sync")
    assert fleet.tap("ahead", chain.uid(m[10]))["outcome"] == "accepted"
    fleet.wait_converged()

    # Ops see every wrong clock: heartbeats carry the measured offset ...
    def offsets() -> dict[str, int | None]:
        out = {}
        for kiosk_id in SKEWS:
            kiosk = fleet.coordinator.api("GET", f"/api/v1/kiosks/{kiosk_id}")
            beat = kiosk["evidence"]["heartbeat"] or {}
            out[kiosk_id] = beat.get("clock_offset_ms")
        return out

    wait_until(
        lambda: all(
            (o := offsets()[k]) is not None and abs(o - skew) < 30_000 for k, skew in SKEWS.items()
        ),
        30,
        "heartbeats to report every kiosk's clock offset",
        interval_s=0.2,
    )
    # ... and every event whose wall clock was off raised a clock_skew conflict.
    conflicts = fleet.coordinator.api("GET", "/api/v1/conflicts", kind="clock_skew", limit=500)
    flagged = {c["kiosk_id"] for c in conflicts["items"]}
    assert flagged == {"ahead", "behind", "fast"}

    states = fleet.states()
    for host in fleet.hosts.values():
        host.stop()

    # Order: per kiosk, seq order is HLC order across the bad reboot; no HLC anywhere is
    # in the future (nothing dragged the ledger's timeline); causality holds across kiosks.
    ev = schema.events
    rows = fleet.coordinator.read(
        lambda c: c.execute(sa.select(ev.c.source, ev.c.hlc_ms, ev.c.received_ms)).all()
    )
    assert all(r.hlc_ms <= r.received_ms + LIMIT_MS for r in rows)
    for kiosk_id, path in fleet.ledgers.items():
        journal = read_journal(path)
        assert [e.hlc for e in journal] == sorted(e.hlc for e in journal), kiosk_id
        assert states[kiosk_id]["now_ms"] < fleet.now_ms() + MINUTE, kiosk_id
    order = [
        e.event_id
        for e in sorted(
            fleet.coordinator.events("fast") + fleet.coordinator.events("sane"), key=Event.sort_key
        )
    ]
    assert max(order.index(e[1]) for e in first["events"]) < min(
        order.index(e[1]) for e in second["events"]
    )
    full_audit(fleet.coordinator, fleet.ledgers, fleet.acknowledged())
