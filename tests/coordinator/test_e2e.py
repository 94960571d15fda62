"""End to end through a real Mosquitto: kiosks publish events, get acks and member pushes."""

from __future__ import annotations

import sqlalchemy as sa

from coordinator import schema
from shared import qrtoken
from shared.decide import Accepted, Refused
from shared.model import ClassSession
from shared.protocol import Versions
from shared.reasons import RejectReason
from simulators.waiting import poll_until
from tests.coordinator.harness import Harness


def _yoga(store_id: str, now_ms: int, n: int = 0) -> dict[str, object]:
    return ClassSession(
        class_session_id=f"yoga-{store_id}-{n}",
        class_type="yoga",
        store_id=store_id,
        title_zh="流瑜伽",
        title_en="Flow yoga",
        starts_ms=now_ms + 10 * 60_000,
        ends_ms=now_ms + 70 * 60_000,
    ).model_dump(mode="json")


def test_checkin_is_acked_after_commit_and_pushed_to_every_store(harness: Harness) -> None:
    h = harness
    h.add_store("s1")
    h.add_store("s2")
    h.add_member("m1")
    k1 = h.kiosk("k1", "s1")
    k2 = h.kiosk("k2", "s2")

    decision = k1.tap("m1")
    assert isinstance(decision, Accepted) and decision.result.points_earned == 10
    assert k1.wait_acked()
    # The ack came after the commit: the event is in the ledger once.
    assert h.applied_seq("k1") == 1
    assert [e.seq for e in h.events(source="k1")] == [1]

    # Both stores' kiosks receive the member with the check-in folded in.
    h.wait_members_caught_up(k1, k2)
    assert k2.ledger("m1") == h.central("m1")
    assert k2.ledger("m1").points_available(h.coord.clock.wall_ms()) == 10
    # Kiosk 1 now sees its own event as included in the snapshot (nothing pending).
    assert k1.wait_settled()
    assert k1.ledger("m1") == h.central("m1") == h.reference("m1")

    # A second tap inside the double-tap window is refused at the kiosk and still recorded.
    again = k2.tap("m1")
    assert isinstance(again, Refused) and again.reason is RejectReason.ALREADY_CHECKED_IN
    assert k2.wait_acked()
    assert [e.kind for e in h.events(source="k2")] == ["rejected"]


def test_class_pass_sold_at_hq_is_used_at_a_kiosk(harness: Harness) -> None:
    h = harness
    h.add_store("s1")
    now = h.coord.clock.wall_ms()
    h.publish_rules(classes=[_yoga("s1", now)])
    h.add_member("m1")
    h.sell_pass("m1", "p1", 10)
    k1 = h.kiosk("k1", "s1")
    assert k1.wait_for(
        lambda: k1.ledger("m1") is not None and k1.ledger("m1").find_pass("p1") is not None
    )

    signed = k1.tap("m1")
    assert isinstance(signed, Accepted)
    assert signed.result.sessions_left == 9
    assert k1.wait_settled()
    central = h.central("m1").find_pass("p1")
    assert central is not None and central.sessions_used == 1
    assert k1.ledger("m1") == h.reference("m1")

    # Tapping again for the same class never deducts twice.
    twice = k1.tap("m1")
    assert isinstance(twice, Refused) and twice.reason is RejectReason.ALREADY_SIGNED_IN
    assert k1.wait_settled()
    assert h.central("m1").find_pass("p1").sessions_used == 1  # type: ignore[union-attr]


def test_online_coupon_claim_serialises_two_kiosks(harness: Harness) -> None:
    h = harness
    h.add_store("s1")
    h.add_store("s2")
    h.add_member("m1")
    h.issue_coupon("m1", "c1", [])
    k1 = h.kiosk("k1", "s1")
    k2 = h.kiosk("k2", "s2")
    for k in (k1, k2):
        assert k.wait_for(
            lambda k=k: k.ledger("m1") is not None and k.ledger("m1").find_coupon("c1") is not None
        )

    first = k1.redeem_coupon("m1", "c1")
    assert isinstance(first, Accepted)
    # k2 has not yet heard of the redemption, but the coordinator has a live claim on it.
    second = k2.redeem_coupon("m1", "c1")
    assert isinstance(second, Refused) and second.reason is RejectReason.COUPON_USED
    assert k1.wait_settled() and k2.wait_acked()
    coupon = h.central("m1").find_coupon("c1")
    assert coupon is not None and coupon.redeem_count == 1
    assert h.conflicts(status="open") == []
    with h.coord.db.read() as conn:
        statuses = sorted(conn.execute(sa.select(schema.coupon_claims.c.status)).scalars())
    assert statuses == ["consumed", "denied"]


def test_lost_card_reaches_the_fleet_and_late_use_is_a_conflict(harness: Harness) -> None:
    h = harness
    h.add_store("s1")
    h.add_member("m1")
    h.call("POST", "/api/v1/members/m1/cards", json={"uid": "04A1B2C3D4E5F6"}, expect=201)
    k1 = h.kiosk("k1", "s1")
    assert k1.wait_for(
        lambda: k1.ledger("m1") is not None and k1.members["m1"].record.cards == ("04A1B2C3D4E5F6",)
    )

    k1.go_offline()
    lost = h.call(
        "POST", "/api/v1/cards/04A1B2C3D4E5F6/report-lost", json={"reason": "lost"}, expect=200
    )
    # Offline, the kiosk still accepts the card (it cannot know) ...
    assert isinstance(k1.tap("m1", uid="04A1B2C3D4E5F6"), Accepted)
    k1.connect()
    # ... on reconnect it gets the deny-list by sync, and the late use is flagged.
    assert k1.wait_for(lambda: "04A1B2C3D4E5F6" in k1.deny)
    assert k1.versions.deny == lost["deny_version"]
    assert k1.wait_acked()
    assert poll_until(lambda: len(h.conflicts(kind="card_revoked_used")) == 1)
    conflict = h.conflicts(kind="card_revoked_used")[0]
    assert "04A1B2C3D4E5F6" in conflict["explanation"] and "k1" in conflict["explanation"]
    # The member's record no longer lists the card.
    h.wait_members_caught_up(k1)
    assert k1.members["m1"].record.cards == ()


def test_sync_sends_a_snapshot_to_a_new_kiosk_and_a_delta_to_one_slightly_behind(
    harness: Harness,
) -> None:
    h = harness
    h.add_store("s1")
    for i in range(5):
        h.add_member(f"m{i}")
    k1 = h.kiosk("k1", "s1")
    assert set(k1.members) == {f"m{i}" for i in range(5)}
    v_before = k1.versions.members

    k1.go_offline()
    h.add_member("m9")
    h.wait_members_caught_up()
    k1.connect()
    assert k1.wait_for(lambda: "m9" in k1.members)
    assert k1.versions.members == h.members_version() > v_before
    # Member data came as a delta (base = our version), not as a snapshot.
    assert not k1.staged


def test_rule_bundles_are_versioned_per_store_and_never_go_backwards(harness: Harness) -> None:
    h = harness
    h.add_store("s1")
    h.add_store("s2")
    h.add_member("m1")
    k1 = h.kiosk("k1", "s1")
    k2 = h.kiosk("k2", "s2")
    base = k1.versions.rules
    scoped = h.publish_rules(store_ids=["s1"], rules={"points_per_checkin": 25})
    assert scoped["version"] > base
    assert k1.wait_for(lambda: k1.versions.rules == scoped["version"])
    assert k1.bundle is not None and k1.bundle.rules.points_per_checkin == 25
    # Store 2 keeps its bundle: the scoped one was never sent to it.
    assert k2.versions.rules == base
    chain = h.publish_rules(rules={"points_per_checkin": 5})
    for k in (k1, k2):
        assert k.wait_for(lambda k=k: k.versions.rules == chain["version"])
    assert (
        h.call("GET", "/api/v1/rule-bundles/current", store_id="s1")["version"] == chain["version"]
    )
    # The bundle carries the coordinator's QR key, and a token it issues verifies offline.
    token = h.call("GET", "/api/v1/members/m1/qr-token", expect=200)["token"]
    assert k1.bundle is not None
    claims = qrtoken.verify_token(token, k1.bundle.qr_keys, h.coord.clock.wall_ms(), 30)
    assert claims.member_id == "m1"


def test_qr_key_rotation_keeps_the_old_key_for_the_overlap(harness: Harness) -> None:
    h = harness
    h.add_store("s1")
    h.add_member("m1")
    k1 = h.kiosk("k1", "s1")
    old_token = h.call("GET", "/api/v1/members/m1/qr-token", expect=200)["token"]
    rotated = h.call("POST", "/api/v1/qr-keys/rotate", expect=200)
    assert len(rotated["keys"]) == 2
    old = next(k for k in rotated["keys"] if k["key_id"] != rotated["signing_key_id"])
    assert old["not_after_ms"] is not None
    assert k1.wait_for(lambda: k1.versions.rules == max(rotated["republished_versions"]))
    assert k1.bundle is not None
    now = h.coord.clock.wall_ms()
    new_token = h.call("GET", "/api/v1/members/m1/qr-token", expect=200)["token"]
    for token in (old_token, new_token):
        assert qrtoken.verify_token(token, k1.bundle.qr_keys, now, 30).member_id == "m1"


def test_liveness_facts_are_separate(harness: Harness) -> None:
    h = harness
    h.add_store("s1")
    h.add_member("m1")
    k1 = h.kiosk("k1", "s1")
    k1.tap("m1")
    assert k1.wait_settled()
    h.wait_members_caught_up(k1)
    k1.heartbeat(interval_s=30)

    def health() -> dict[str, object]:
        return h.call("GET", "/api/v1/kiosks/k1", expect=200)

    assert poll_until(lambda: health()["alive"] is True and health()["connected"] is True)
    facts = health()
    assert facts["in_sync"] is True, facts
    assert facts["last_good_tap_ms"] is not None

    # A kiosk that vanishes: the broker publishes its will -> not connected; still "alive"
    # until its heartbeat interval lapses (a separate fact, not merged into one flag).
    k1.go_offline()
    assert poll_until(lambda: health()["connected"] is False, timeout_s=60)
    assert health()["alive"] is True


def test_member_page_serves_a_verifiable_qr_token(harness: Harness) -> None:
    h = harness
    h.add_store("s1")
    h.add_member("m1", name="Anna L.")
    link = h.call("POST", "/api/v1/members/m1/page-link", expect=200)
    page = h.client.get(link["path"])
    assert page.status_code == 200 and "Anna L." in page.text and "<svg" in page.text
    token = h.client.get("/api/v1/member/qr", params={"link": link["link_token"]}).json()["token"]
    bundle = h.call("GET", "/api/v1/rule-bundles/current", store_id="s1")
    from shared.model import RuleBundle

    keys = RuleBundle.model_validate(bundle).qr_keys
    assert qrtoken.verify_token(token, keys, h.coord.clock.wall_ms(), 30).member_id == "m1"
    assert h.client.get("/api/v1/member/qr", params={"link": "x" * 20}).status_code == 401


def test_versions_reported_by_sync_are_recorded(harness: Harness) -> None:
    h = harness
    h.add_store("s1")
    h.add_member("m1")
    k1 = h.kiosk("k1", "s1")
    assert poll_until(
        lambda: h.call("GET", "/api/v1/kiosks/k1")["evidence"]["reported_versions"] is not None
    )
    assert (
        Versions.model_validate(
            h.call("GET", "/api/v1/kiosks/k1")["evidence"]["reported_versions"]
        ).rules
        == 0
    )
    assert k1.versions.rules >= 1
