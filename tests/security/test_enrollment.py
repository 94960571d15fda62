"""Kiosk enrollment with one-time codes, and revocation that cuts a kiosk off.

The end-to-end test runs what an installer does: a store manager asks the coordinator for a
code, ``tapfleet kiosk enroll`` on the new kiosk trades it for credentials (the broker's CA
included: the kiosk then talks TLS), ``tapfleet kiosk`` starts and serves a real card tap over
nfcpy's udp transport, and revoking the kiosk disconnects it at the broker.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import httpx

from coordinator.mqtt.broker_config import PASSWORDS, BrokerTls, read_password_file
from device.kiosk_cli import READY_MARKER
from device.settings import load_settings
from shared.decide import Accepted
from simulators.broker import Broker
from simulators.nfc import present_card
from simulators.ports import free_tcp_port, free_udp_port
from simulators.services import TAPFLEET
from simulators.waiting import wait_until
from tests.kiosk.conftest import STAFF_PIN_HASH
from tests.link.certs import make_tls_files
from tests.security.stack import (
    OffsetClock,
    broker_log,
    live_coordinator,
    start_secure_broker,
)
from tests.support.processes import LineProcess

CARD = "04A1B2C3D4E5F6"


def enroll_cli(url: str, code: str, out: Path) -> subprocess.CompletedProcess[str]:
    """``tapfleet kiosk enroll`` with the code on stdin (it never shows in the process list)."""
    return subprocess.run(
        [*TAPFLEET, "kiosk", "enroll", "--coordinator", url, "--code", "-", "--out", str(out)],
        input=code + "\n",
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_kiosk_enrolls_with_a_one_time_code_and_revocation_cuts_it_off(
    tmp_path: Path,
) -> None:
    tls = make_tls_files(tmp_path / "tls")
    tls_port = free_tcp_port()
    broker = start_secure_broker(
        tmp_path,
        tls=BrokerTls(
            port=tls_port,
            bind="127.0.0.1",
            cafile=tls.ca,
            certfile=tls.server_cert,
            keyfile=tls.server_key,
        ),
    )
    kiosk: LineProcess | None = None
    try:
        with live_coordinator(
            tmp_path,
            broker,
            kiosk_mqtt_host="127.0.0.1",
            kiosk_mqtt_port=tls_port,
            kiosk_mqtt_ca_file=tls.ca,
        ) as live:
            live.add_store("s1")
            live.add_store("s2")
            live.add_member("m1", store_scope=["s1"])
            live.call("POST", "/api/v1/members/m1/cards", json={"uid": CARD}, expect=201)
            manager = live.add_user("mgr1", "store_manager", "s1")
            r = live.http.post(
                "/api/v1/enrollment-codes",
                json={"kiosk_id": "k-s2", "store_id": "s2"},
                headers=manager,
            )
            assert r.status_code == 403  # not their store
            issued = live.call(
                "POST",
                "/api/v1/enrollment-codes",
                json={"kiosk_id": "k-new", "store_id": "s1", "name": "Front desk"},
                headers=manager,
                expect=201,
            )
            code = issued["code"]
            assert len(code) == 19 and issued["expires_ms"] > live.coord.clock.wall_ms()
            # The code is not stored: nothing in the database or the API holds it.
            pending = live.call("GET", "/api/v1/enrollment-codes", headers=manager)
            assert [p["kiosk_id"] for p in pending] == ["k-new"]
            assert code not in str(pending)

            config = tmp_path / "kiosk" / "kiosk.toml"
            config.parent.mkdir()
            udp = free_udp_port()
            config.write_text(
                'ledger_path = "ledger.sqlite"\n'
                f'[nfc]\npath = "udp:127.0.0.1:{udp}"\ntargets = ["106A"]\n'
                "[ui]\nport = 0\n"
                "[link]\nreconnect_min_s = 0.05\nreconnect_max_s = 0.5\nkeepalive_s = 5\n"
                "online_grace_s = 0.3\n"
                f'[staff]\npin_hash = "{STAFF_PIN_HASH}"\n'
            )
            done = enroll_cli(live.url, code, config)
            assert done.returncode == 0, done.stderr
            assert "enrolled kiosk_id=k-new store_id=s1" in done.stdout
            assert stat.S_IMODE(os.stat(config).st_mode) == 0o600
            settings = load_settings(config)
            assert (settings.kiosk_id, settings.store_id) == ("k-new", "s1")
            assert settings.link.port == tls_port and settings.link.tls
            assert settings.link.ca_file is not None
            assert settings.link.ca_file.read_bytes() == tls.ca.read_bytes()
            assert (
                settings.staff.pin_hash.get_secret_value() == STAFF_PIN_HASH
            )  # kept from the file
            # The broker already knows the kiosk: its user is in the reloaded password file.
            assert "k-new" in read_password_file(broker.directory / PASSWORDS)

            again = enroll_cli(live.url, code, tmp_path / "other.toml")
            assert again.returncode == 2
            assert "enrollment_code_used" in again.stderr
            assert not (tmp_path / "other.toml").exists()

            kiosk = LineProcess([*TAPFLEET, "kiosk", "--config", str(config)], config.parent)
            ready = kiosk.wait_line(READY_MARKER, 60)
            ui = dict(part.split("=", 1) for part in ready.split()[1:])["ui"]

            def status() -> dict[str, object]:
                return dict(httpx.get(ui + "/api/status", timeout=5).json())

            wait_until(lambda: status()["ready"] and status()["online"], 30, "kiosk online")
            with present_card(CARD, "ntag215", port=udp):
                wait_until(lambda: live.applied_seq("k-new") >= 1, 30, "tap applied centrally")
            events = live.call("GET", "/api/v1/events", source="k-new")["items"]
            assert [e["kind"] for e in events] == ["checkin"]

            # Revoke: the coordinator rewrites the broker files and Mosquitto reloads them,
            # which disconnects the kiosk and refuses its reconnects.
            refused_before = broker_log(broker).count("not authorised")
            revoked = live.call("POST", "/api/v1/kiosks/k-new/revoke")
            assert revoked["broker"]["reloaded"], revoked["broker"]
            assert "k-new" not in read_password_file(broker.directory / PASSWORDS)
            wait_until(lambda: not status()["connected"], 30, "kiosk disconnected")
            wait_until(
                lambda: broker_log(broker).count("not authorised") >= refused_before + 2,
                30,
                "reconnects refused",
            )
            assert not status()["connected"]
    finally:
        if kiosk is not None:
            kiosk.kill()
        broker.stop()


def test_revocation_holds_at_the_coordinator_until_the_broker_reloads(
    secure_broker: Broker, tmp_path: Path
) -> None:
    with live_coordinator(tmp_path, secure_broker) as live:
        live.add_store("s1")
        live.add_member("m1", store_scope=["s1"])
        live.call("POST", "/api/v1/members/m1/cards", json={"uid": CARD}, expect=201)
        code = live.call("POST", "/api/v1/enrollment-codes",
                         json={"kiosk_id": "k1", "store_id": "s1"}, expect=201)["code"]  # fmt: skip
        creds = live.http.post("/api/v1/enroll", json={"code": code.lower()})  # case-insensitive
        assert creds.status_code == 201, creds.text
        link, ledger = live.real_kiosk(tmp_path, creds.json())
        wait_until(lambda: ledger.real.member_summary("m1") is not None, what="k1 synced")
        assert isinstance(ledger.real.tap_card(CARD).decision, Accepted)
        link.notify_new_events()
        assert link.wait_for(lambda s: s.acked_seq == 1, 15), link.state()

        # The broker cannot be told right now (its pid file is unusable) ...
        pid_file = secure_broker.directory / "mosquitto.pid"
        broker_pid = pid_file.read_text()
        pid_file.write_text("not a pid\n")
        revoked = live.call("POST", "/api/v1/kiosks/k1/revoke")
        assert not revoked["broker"]["reloaded"]
        assert "process id" in revoked["broker"]["detail"]
        # ... so the kiosk is still connected and sends its next tap: the coordinator
        # refuses everything from a revoked kiosk.
        assert link.state().connected
        ledger.real.tap_card(CARD)
        link.notify_new_events()
        wait_until(lambda: live.rejections().get("kiosk_revoked") == 1, what="refused")
        assert live.applied_seq("k1") == 1

        # The next sync (housekeeping runs one) signals the broker after all.
        pid_file.write_text(broker_pid)
        live.coord.housekeeping()
        assert link.wait_for(lambda s: not s.connected, 15), link.state()
        failures = link.state().counters.get("connect_failures", 0)
        assert link.wait_for(lambda s: s.counters.get("connect_failures", 0) >= failures + 2, 15)
        assert not link.state().connected


def test_codes_work_once_and_only_until_they_expire(tmp_path: Path) -> None:
    clock = OffsetClock()
    with live_coordinator(
        tmp_path, None, clock=clock, login_max_failures_per_address=5, login_window_s=60
    ) as live:
        live.add_store("s1")
        live.add_store("s2")

        def new_code(kiosk_id: str, **body: object) -> str:
            return str(
                live.call(
                    "POST",
                    "/api/v1/enrollment-codes",
                    json={"kiosk_id": kiosk_id, "store_id": "s1", **body},
                    expect=201,
                )["code"]
            )

        def enroll(code: str) -> httpx.Response:
            return live.http.post("/api/v1/enroll", json={"code": code})

        def refusal(code: str) -> str:
            r = enroll(code)
            assert r.status_code == 403, r.text
            return str(r.json()["error"]["code"])

        # Expired: the default lifetime is 15 minutes.
        expiring = new_code("k-late")
        clock.advance(15 * 60_000 + 1)
        assert refusal(expiring) == "enrollment_code_expired"
        # Superseded: a second code for the same kiosk id replaces the first.
        first = new_code("k-twice")
        second = new_code("k-twice")
        assert refusal(first) == "enrollment_code_superseded"
        assert enroll(second).status_code == 201
        assert refusal(second) == "enrollment_code_used"
        assert refusal("AAAA-BBBB-CCCC-DDDD") == "enrollment_code_invalid"
        # A kiosk id that exists, or that is a coordinator's broker user, gets no code.
        r = live.http.post("/api/v1/enrollment-codes", headers=live.admin,
                           json={"kiosk_id": "k-twice", "store_id": "s1"})  # fmt: skip
        assert r.status_code == 409 and r.json()["error"]["code"] == "kiosk_exists"
        r = live.http.post("/api/v1/enrollment-codes", headers=live.admin,
                           json={"kiosk_id": "coordinator", "store_id": "s1"})  # fmt: skip
        assert r.status_code == 422 and r.json()["error"]["code"] == "kiosk_id_reserved"
        viewer = live.add_user("viewer1", "viewer")
        r = live.http.post("/api/v1/enrollment-codes", headers=viewer,
                           json={"kiosk_id": "k-v", "store_id": "s1"})  # fmt: skip
        assert r.status_code == 403

        # Guessing is rate limited per address: 5 failures in the window, then 429.
        assert refusal("AAAA-BBBB-CCCC-EEEE") == "enrollment_code_invalid"  # 5th failure
        good = new_code("k-after")
        blocked = enroll(good)
        assert blocked.status_code == 429
        assert int(blocked.headers["Retry-After"]) > 0
        clock.advance(61_000)
        assert enroll(good).status_code == 201
        kiosks = {k["kiosk_id"] for k in live.call("GET", "/api/v1/kiosks")}
        assert kiosks == {"k-twice", "k-after"}
