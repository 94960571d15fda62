"""Member QR tokens end to end: the coordinator issues them, real kiosks (ledger + link + tap
service) verify them offline.

* Forged, altered, truncated, expired and replayed tokens are refused with the right reason;
  a token used at kiosks of two stores is flagged centrally.
* Key rotation announces the new key ahead of its first use: a kiosk that was offline during
  the announcement but synced before the switch keeps accepting codes; the old key's codes
  stay valid until the stated time. Time moves on an injected clock shared by coordinator and
  kiosks, never by sleeping.
* The private keys are sealed in the database.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from coordinator import schema
from coordinator.security.key_sealing import KeySealer, KeySealingError, derive_kek
from device.link import KioskLink
from device.readers.base import QrRead
from device.sessions import MemberSessions, StaffSessions
from device.tap_service import TapService
from device.ui.hub import EventHub
from shared import qrtoken
from shared.qrtoken import generate_keypair, issue_token
from simulators.broker import Broker
from simulators.waiting import wait_until
from tests.link.ledgers import RecordingLedger
from tests.security.stack import Live, OffsetClock, live_coordinator
from tests.support.links import fast_link_settings

HOUR = 3_600_000
MINUTE = 60_000


@dataclass
class QrKiosk:
    """A real kiosk as far as QR codes go: ledger, link and the tap service that verifies."""

    kiosk_id: str
    creds: dict[str, Any]
    ledger: RecordingLedger
    link: KioskLink
    service: TapService
    hub: EventHub

    def show(self, token: str) -> dict[str, Any]:
        """Hold a code in front of the camera; what the screen shows."""
        self.service.on_qr(QrRead(text=token, read_at=time.monotonic()))
        message = self.hub.last("tap")
        assert message is not None
        return dict(message.data)

    def rules_version(self) -> int:
        """The rule bundle version the kiosk runs."""
        return self.ledger.versions().rules

    def key_ids(self) -> list[str]:
        """QR key ids in the kiosk's bundle."""
        bundle = self.ledger.real.rule_bundle()
        return [k.key_id for k in bundle.qr_keys] if bundle else []


def start_kiosk(live: Live, tmp_path: Path, creds: dict[str, Any], clock: OffsetClock) -> QrKiosk:
    """(Re)connect a kiosk: the ledger is reopened from its file, a new link started."""
    link, ledger = live.real_kiosk(tmp_path, creds, clock=clock)
    hub = EventHub(sticky=("tap",))
    service = TapService(
        ledger.real,
        hub,
        clock=clock,
        member_sessions=MemberSessions(clock, 45),
        staff_sessions=StaffSessions(
            clock, pin_hash=None, staff_id="s", cards=(), idle_s=60, max_attempts=3, lockout_s=60
        ),
        link=link,
    )
    kiosk = QrKiosk(creds["kiosk_id"], creds, ledger, link, service, hub)
    wait_until(lambda: kiosk.rules_version() > 0 and ledger.versions().members > 0,
               what=f"{kiosk.kiosk_id} synced")  # fmt: skip
    return kiosk


def go_offline(live: Live, kiosk: QrKiosk) -> None:
    """Stop the kiosk's link (it keeps its ledger and serves members offline)."""
    kiosk.link.stop(timeout_s=2)
    live.links.remove(kiosk.link)


def reconnect(live: Live, kiosk: QrKiosk, clock: OffsetClock) -> None:
    """Start a new link for the kiosk's ledger and wait for its sync."""
    assert live.broker is not None
    settings = fast_link_settings(
        live.broker.port, username=kiosk.kiosk_id, password=kiosk.creds["mqtt"]["password"]
    )
    link = KioskLink(settings, kiosk.ledger, clock=clock)
    live.links.append(link)
    link.start()
    kiosk.link = link
    kiosk.service.attach_link(link)
    assert link.wait_for(lambda s: s.online, 15)


def token_for(live: Live, member_id: str) -> str:
    """A fresh member QR token from the coordinator (the staff route; the phone page uses the
    same signer)."""
    return str(live.call("GET", f"/api/v1/members/{member_id}/qr-token")["token"])


def key_of(token: str) -> str:
    """The key id a token names (read without verifying)."""
    payload = base64.urlsafe_b64decode(token.split(".")[1] + "==")
    length = payload[12]
    return payload[13 : 13 + length].decode()


@pytest.fixture
def clock() -> OffsetClock:
    """The one clock of the coordinator and the kiosks."""
    return OffsetClock()


@pytest.fixture
def chain(secure_broker: Broker, tmp_path: Path, clock: OffsetClock) -> Iterator[Live]:
    """A coordinator with stores s1 and s2 and members m1..m8 (visible in every store)."""
    with live_coordinator(
        tmp_path,
        secure_broker,
        clock=clock,
        qr_key_announce_s=2 * 3600,
        qr_key_rotation_overlap_s=600,
    ) as live:
        live.add_store("s1")
        live.add_store("s2")
        for n in range(1, 9):
            live.add_member(f"m{n}")
        yield live


def test_bad_tokens_are_refused_and_cross_store_replays_flagged(
    chain: Live, tmp_path: Path, clock: OffsetClock
) -> None:
    live = chain
    ka = start_kiosk(live, tmp_path, live.provision("kA", "s1"), clock)
    kd = start_kiosk(live, tmp_path, live.provision("kD", "s2"), clock)

    token = token_for(live, "m1")
    assert ka.show(token)["outcome"] == "accepted"
    assert ka.show(token)["reason"] == "qr_replayed"  # a screenshot, shown again
    assert kd.show(token)["outcome"] == "accepted"  # another kiosk cannot know it offline ...

    signed, signature = token.rsplit(".", 1)
    payload = signed.split(".")[1]
    other_key, _ = generate_keypair(key_of(token))  # same key id, not the coordinator's key
    flipped = payload[:5] + ("A" if payload[5] != "A" else "B") + payload[6:]
    refusals = {
        "forged with another key": (
            issue_token(other_key, key_of(token), "m2", clock.wall_ms(), 60),
            "qr_bad_signature",
        ),
        "payload altered": (f"TF1.{flipped}.{signature}", "qr_bad_signature"),
        "last character cut": (token[:-1], "qr_malformed"),
        "signature cut": (signed, "qr_malformed"),
        "cut in half": (token[: len(token) // 2], "qr_malformed"),
        "one character more": (token + "A", "qr_malformed"),
        "not a member code": ("https://example.com/?q=TF1", "qr_malformed"),
        "unknown key": (
            issue_token(other_key, "kNOPE", "m2", clock.wall_ms(), 60),
            "qr_unknown_key",
        ),
    }
    for what, (bad, reason) in refusals.items():
        shown = ka.show(bad)
        assert (shown["outcome"], shown["reason"]) == ("refused", reason), what
        assert shown["member"] is None, what  # an unverified code names nobody

    stale = token_for(live, "m3")
    clock.advance(2 * MINUTE)  # TTL 60 s + 30 s skew tolerance
    shown = ka.show(stale)
    assert shown["reason"] == "qr_expired", shown

    # ... the coordinator does: the nonce used at kA and kD raises a qr_replay conflict.
    for kiosk in (ka, kd):
        kiosk.link.notify_new_events()
    wait_until(lambda: bool(live.call("GET", "/api/v1/conflicts", kind="qr_replay")["items"]),
               what="qr_replay conflict")  # fmt: skip
    [conflict] = live.call("GET", "/api/v1/conflicts", kind="qr_replay")["items"]
    assert conflict["member_id"] == "m1" and "kD" in conflict["explanation"]


def test_rotation_announces_the_new_key_before_it_signs(
    chain: Live, tmp_path: Path, clock: OffsetClock
) -> None:
    live = chain
    ka = start_kiosk(live, tmp_path, live.provision("kA", "s1"), clock)
    kb = start_kiosk(live, tmp_path, live.provision("kB", "s1"), clock)
    kc = start_kiosk(live, tmp_path, live.provision("kC", "s1"), clock)
    [old_key] = ka.key_ids()
    go_offline(live, kb)
    go_offline(live, kc)

    rotated = live.call("POST", "/api/v1/qr-keys/rotate")
    now = clock.wall_ms()
    new_key = rotated["signing_key_id"]
    switch = rotated["switch_ms"]
    assert rotated["signing_now_key_id"] == old_key != new_key
    assert now - 5_000 <= switch - 2 * HOUR <= now
    assert rotated["old_key_valid_until_ms"] == switch + 10 * MINUTE
    by_id = {k["key_id"]: k for k in rotated["keys"]}
    assert by_id[new_key]["not_before_ms"] == switch and by_id[new_key]["not_after_ms"] is None
    assert by_id[old_key]["not_after_ms"] == switch + 10 * MINUTE

    # Announced: the online kiosk holds both keys at once; the old key still signs.
    wait_until(lambda: ka.rules_version() == max(rotated["republished_versions"]),
               what="kA got the bundle with the new key")  # fmt: skip
    assert set(ka.key_ids()) == {old_key, new_key}
    before = token_for(live, "m1")
    assert key_of(before) == old_key
    for kiosk in (ka, kc):  # kC, offline, only knows the old key
        assert kiosk.show(before)["outcome"] == "accepted", kiosk.kiosk_id

    # kB comes back an hour later, before the switch, and syncs.
    clock.advance(HOUR)
    reconnect(live, kb, clock)
    wait_until(lambda: new_key in kb.key_ids(), what="kB learned the new key")

    # Half a minute before the switch the old key signs one more code ...
    clock.advance(switch - clock.wall_ms() - 30_000)
    last_old = token_for(live, "m2")
    assert key_of(last_old) == old_key
    # ... then the new key signs.
    clock.advance(40_000)
    first_new = token_for(live, "m3")
    assert key_of(first_new) == new_key
    assert ka.show(last_old)["outcome"] == "accepted"  # honoured after the switch
    for kiosk, member in ((ka, "m4"), (kb, "m5")):
        assert kiosk.show(token_for(live, member))["outcome"] == "accepted", kiosk.kiosk_id
    assert kb.show(first_new)["outcome"] == "accepted"
    # kC missed the whole announce period: it refuses new codes until it syncs.
    assert kc.show(token_for(live, "m6"))["reason"] == "qr_unknown_key"
    reconnect(live, kc, clock)
    wait_until(lambda: new_key in kc.key_ids(), what="kC learned the new key")
    assert kc.show(token_for(live, "m7"))["outcome"] == "accepted"

    # After the stated time the old key's codes are refused, and new bundles drop it.
    clock.advance(10 * MINUTE)
    forged_late = token_with_stored_key(live, old_key, "m8", clock.wall_ms())
    assert ka.show(forged_late)["reason"] == "qr_unknown_key"
    published = live.call("POST", "/api/v1/rule-bundles", json={}, expect=201)
    bundle = live.call("POST", f"/api/v1/rule-bundles/{published['bundle_id']}/publish")
    assert [k["key_id"] for k in bundle["bundle"]["qr_keys"]] == [new_key]


def token_with_stored_key(live: Live, key_id: str, member_id: str, now_ms: int) -> str:
    """A token signed with a stored key at any time (what someone holding it could mint)."""
    q = schema.qr_keys
    with live.coord.db.read() as conn:
        sealed = conn.execute(sa.select(q.c.private_key).where(q.c.key_id == key_id)).scalar_one()
    return issue_token(live.coord.sealer.unseal(key_id, sealed), key_id, member_id, now_ms, 60)


def test_emergency_rotation_drops_a_leaked_key_at_once(
    chain: Live, tmp_path: Path, clock: OffsetClock
) -> None:
    live = chain
    ka = start_kiosk(live, tmp_path, live.provision("kA", "s1"), clock)
    [leaked] = ka.key_ids()
    minted = token_with_stored_key(live, leaked, "m1", clock.wall_ms())
    rotated = live.call("POST", "/api/v1/qr-keys/rotate", json={"announce_s": 0, "overlap_s": 0})
    assert rotated["signing_now_key_id"] == rotated["signing_key_id"] != leaked
    assert [k["key_id"] for k in rotated["keys"]] == [rotated["signing_key_id"]]
    wait_until(lambda: ka.key_ids() == [rotated["signing_key_id"]], what="kA dropped the key")
    assert ka.show(minted)["reason"] == "qr_unknown_key"
    assert ka.show(token_for(live, "m2"))["outcome"] == "accepted"


def test_private_keys_are_sealed_at_rest(tmp_path: Path) -> None:
    secret_file = tmp_path / "qr-key.secret"
    secret_file.write_text("a-long-random-secret-for-tests\n")
    with live_coordinator(tmp_path, None, qr_key_secret_file=secret_file) as live:
        live.add_store("s1")
        live.add_member("m1")
        live.call("POST", "/api/v1/qr-keys/rotate", json={"announce_s": 0})
        q = schema.qr_keys
        with live.coord.db.read() as conn:
            rows = conn.execute(sa.select(q.c.key_id, q.c.private_key, q.c.public_key)).all()
        assert len(rows) == 2
        sealer = KeySealer(derive_kek("a-long-random-secret-for-tests"))
        for row in rows:
            assert row.private_key.startswith("s1.")
            raw = sealer.unseal(row.key_id, row.private_key)
            assert qrtoken.encode_private_key(raw) not in row.private_key
            assert qrtoken.qr_key_for(raw, row.key_id).public_key == row.public_key
            with pytest.raises(KeySealingError, match="another secret"):
                KeySealer(derive_kek("some-other-secret-entirely")).unseal(
                    row.key_id, row.private_key
                )
            # Sealed for its key id only: moved to another id it does not open.
            with pytest.raises(KeySealingError):
                sealer.unseal("kOTHER", row.private_key)
        # A key stored in plain text (an older version) is sealed at the next start.
        plain_id = rows[0].key_id
        with live.coord.db.write() as conn:
            raw = sealer.unseal(plain_id, rows[0].private_key)
            conn.execute(
                sa.update(q)
                .where(q.c.key_id == plain_id)
                .values(private_key=qrtoken.encode_private_key(raw))
            )
    with live_coordinator(tmp_path, None, qr_key_secret_file=secret_file) as live:
        with live.coord.db.read() as conn:
            stored = conn.execute(
                sa.select(q.c.private_key).where(q.c.key_id == plain_id)
            ).scalar_one()
        assert stored.startswith("s1.") and sealer.unseal(plain_id, stored) == raw
        assert live.call("GET", "/api/v1/members/m1/qr-token")["token"].startswith("TF1.")
    # The wrong secret: the coordinator runs, but cannot sign until the secret is restored
    # or the key is rotated away.
    secret_file.write_text("a-different-secret-altogether\n")
    with live_coordinator(tmp_path, None, qr_key_secret_file=secret_file) as live:
        r = live.http.get("/api/v1/members/m1/qr-token", headers=live.admin)
        assert r.status_code == 503 and r.json()["error"]["code"] == "qr_key_unavailable"
        assert "another secret" in r.json()["error"]["message"]
        live.call("POST", "/api/v1/qr-keys/rotate", json={"announce_s": 0, "overlap_s": 0})
        assert live.call("GET", "/api/v1/members/m1/qr-token")["token"].startswith("TF1.")
