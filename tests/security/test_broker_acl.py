"""Per-kiosk MQTT credentials and ACLs on the shipped Mosquitto config, against the real
coordinator and a real kiosk (ledger + link).

A kiosk may publish only under its own ``kiosk/{id}/`` up-channels and read only its own
down-channels, its store's and the fleet's. What the broker cannot judge (a payload naming
another kiosk or store on the kiosk's own topic) the coordinator refuses.
"""

from __future__ import annotations

from pathlib import Path

from shared import topics
from shared.model import DenyEntry, MemberRecord
from shared.protocol import (
    Ack,
    DenyListUpdate,
    EventBatch,
    Heartbeat,
    MemberUpdate,
    SyncRequest,
    Versions,
    decode,
    encode,
)
from shared.topics import Channel
from simulators.broker import Broker
from simulators.waiting import wait_until
from tests.security.conftest import make_event
from tests.security.stack import Probe, live_coordinator

NOT_AUTHORIZED = 135  # MQTT v5 reason code 0x87
CARD = "04A1B2C3D4E5F6"


def test_anonymous_and_wrong_passwords_are_refused(secure_broker: Broker, tmp_path: Path) -> None:
    with live_coordinator(tmp_path, secure_broker) as live:
        live.add_store("s1")
        k1 = live.provision("k1", "s1")
        for user, password in ((None, None), ("k1", "wrong"), ("ghost", "x" * 12)):
            probe = Probe.connect(secure_broker, user, password)
            try:
                assert probe.connack is not None and probe.connack.is_failure, (user, password)
            finally:
                probe.close()
        good = Probe.connect(secure_broker, "k1", k1["mqtt"]["password"])
        try:
            assert good.accepted
        finally:
            good.close()


def test_a_kiosk_publishes_only_under_its_own_topics(secure_broker: Broker, tmp_path: Path) -> None:
    with live_coordinator(tmp_path, secure_broker) as live:
        live.add_store("s1")
        live.add_store("s2")
        live.add_member("m1", store_scope=["s1"])
        live.call("POST", "/api/v1/members/m1/cards", json={"uid": CARD}, expect=201)
        k1 = live.provision("k1", "s1")
        live.provision("k2", "s2")
        k3 = live.provision("k3", "s1")
        # k3: a real kiosk of store s1, the target of forged store and fleet messages.
        _link3, ledger3 = live.real_kiosk(tmp_path, k3)
        wait_until(lambda: ledger3.real.member_summary("m1") is not None, what="k3 has m1")

        probe = Probe.connect(secure_broker, "k1", k1["mqtt"]["password"])
        try:
            assert probe.accepted
            forged = {
                topics.kiosk_topic("k2", Channel.EVENTS): EventBatch(
                    kiosk_id="k2", events=(make_event("k2", "s2", 1),)
                ),
                topics.kiosk_topic("k2", Channel.HEARTBEAT): Heartbeat(
                    kiosk_id="k2", store_id="s2", sent_wall_ms=1, hlc_ms=1
                ),
                topics.kiosk_topic("k3", Channel.ACK): Ack(
                    kiosk_id="k3", acked_seq=999, hlc_ms=1, coordinator_wall_ms=1
                ),
                topics.store_topic("s1"): MemberUpdate(
                    store_id="s1",
                    version=10**9,
                    members=(MemberRecord(member_id="m-forged", display_name="X*"),),
                ),
                topics.fleet_topic(): DenyListUpdate(
                    version=10**9, full=True, added=(DenyEntry(uid=CARD, revoked_ms=1),)
                ),
            }
            # The broker answers every one of them "not authorised" and forwards nothing.
            for topic, message in forged.items():
                assert probe.publish(topic, encode(message)).value == NOT_AUTHORIZED, topic

            # On its own topic the broker lets a message through; the coordinator refuses
            # a payload that names another kiosk or store.
            own_events = topics.kiosk_topic("k1", Channel.EVENTS)
            posing = EventBatch(kiosk_id="k2", events=(make_event("k2", "s2", 1),))
            assert probe.publish(own_events, encode(posing)).value == 0
            other_store = Heartbeat(kiosk_id="k1", store_id="s2", sent_wall_ms=1, hlc_ms=1)
            assert probe.publish(topics.kiosk_topic("k1", Channel.HEARTBEAT), encode(other_store),
                                 qos=1).value == 0  # fmt: skip
            wait_until(
                lambda: live.rejections() == {"kiosk_mismatch": 1, "wrong_store": 1},
                what=f"the coordinator's refusals (now {live.rejections()})",
            )
        finally:
            probe.close()

        # Barrier: a real change reaches k3 after the forgeries were sent; none of them did.
        live.add_member("m3", store_scope=["s1"])
        wait_until(lambda: ledger3.real.member_summary("m3") is not None, what="k3 has m3")
        assert ledger3.real.member_summary("m-forged") is None
        assert ledger3.real.member_for_card(CARD) == "m1"  # the forged deny-list never came
        assert live.applied_seq("k2") == 0
        assert live.rejections() == {"kiosk_mismatch": 1, "wrong_store": 1}


def test_a_kiosk_cannot_read_another_stores_member_data(
    secure_broker: Broker, tmp_path: Path
) -> None:
    with live_coordinator(tmp_path, secure_broker) as live:
        live.add_store("s1")
        live.add_store("s2")
        k1 = live.provision("k1", "s1")
        k2 = live.provision("k2", "s2")
        _link2, ledger2 = live.real_kiosk(tmp_path, k2)
        wait_until(lambda: ledger2.versions().rules > 0, what="k2 synced")

        probe = Probe.connect(secure_broker, "k1", k1["mqtt"]["password"])
        try:
            foreign = [
                topics.store_topic("s2"),
                topics.kiosk_topic("k2", Channel.DIRECT),
                topics.kiosk_topic("k2", Channel.ACK),
                topics.kiosk_topic("k2", Channel.EVENTS),
                "tapfleet/v1/store/+/down",
                "tapfleet/v1/#",
                "#",
            ]
            subacks = probe.subscribe(foreign)
            # Mosquitto 2.0's acl_file grants any subscription and checks `read` on every
            # delivery (see docs/security.md); a broker that refuses the SUBACK is fine too.
            assert all(rc.value in (0, 1, NOT_AUTHORIZED) for rc in subacks), subacks
            assert probe.subscribe([topics.store_topic("s1")])[0].value in (0, 1)

            # Store s2 gets a member: its kiosk k2 receives it (positive control) ...
            live.add_member("m-s2", display_name="王*明", store_scope=["s2"])
            wait_until(lambda: ledger2.real.member_summary("m-s2") is not None, what="k2 got it")
            # ... and k1 asks for store s2's members with a sync request naming s2.
            hostile_sync = SyncRequest(kiosk_id="k1", store_id="s2", versions=Versions())
            probe.publish(topics.kiosk_topic("k1", Channel.SYNC), encode(hostile_sync))
            wait_until(lambda: live.rejections().get("wrong_store") == 1, what="sync refused")
            # Barrier: a member of k1's own store reaches k1 through the same subscriptions.
            live.add_member("m-s1", store_scope=["s1"])
            assert probe.wait_message(lambda t, p: b"m-s1" in p), "k1 never got its own store"
        finally:
            probe.close()

        readable = {topic for access, topic in topics.kiosk_acl("k1", "s1") if access == "read"}
        assert probe.messages, "the probe received nothing at all"
        for topic, payload in probe.messages:
            assert topic in readable, f"k1 read {topic}"
            assert "王".encode() not in payload  # the s2 member's name
            message = decode(payload)
            if isinstance(message, MemberUpdate):
                # (A store delta may list a changed member of another store under
                # `removed` — an opaque id, no record; see docs/security.md.)
                assert "m-s2" not in {m.member_id for m in message.members}


def test_a_kiosk_cannot_take_over_another_kiosks_session(
    secure_broker: Broker, tmp_path: Path
) -> None:
    with live_coordinator(tmp_path, secure_broker) as live:
        live.add_store("s1")
        k1 = live.provision("k1", "s1")
        k2 = live.provision("k2", "s1")
        link2, _ledger2 = live.real_kiosk(tmp_path, k2)
        assert link2.wait_for(lambda s: s.online, 15)
        # k1's own login, k2's client id: Mosquitto forces the client id to the user name,
        # so k2's session is not taken over (MQTT would otherwise disconnect k2).
        probe = Probe.connect(secure_broker, "k1", k1["mqtt"]["password"], client_id="k2")
        try:
            assert probe.accepted
            probe.subscribe([topics.kiosk_topic("k1", Channel.ACK)])  # a round trip as barrier
        finally:
            probe.close()
        state = link2.state()
        assert state.connected and state.reconnects == 0, state
