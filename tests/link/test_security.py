"""Per-kiosk credentials, the ACL and TLS with a client certificate, on the shipped config."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from device.link import KioskLink, LinkSettings
from shared import protocol as p
from shared import topics
from shared.model import MemberRecord
from simulators.broker import Broker, start_broker
from simulators.ports import free_tcp_port
from tests.link.certs import TlsFiles, make_tls_files
from tests.link.ledgers import RecordingLedger
from tests.link.peer import CoordinatorPeer

USERS = {"coordinator": "c-secret", "k1": "k1-secret"}


@pytest.fixture
def auth_broker(tmp_path: Path) -> Iterator[Broker]:
    """The shipped config with passwords and per-kiosk ACLs (kiosk k1 of store s1)."""
    broker = start_broker(tmp_path, auth=True, users=USERS, kiosks=[("k1", "s1")])
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def tls_broker(auth_broker: Broker, tmp_path: Path) -> Iterator[tuple[Broker, int, TlsFiles]]:
    """The same broker with a second listener: TLS, client certificate required."""
    tls = make_tls_files(tmp_path / "tls")
    tls_port = free_tcp_port()
    auth_broker.stop()
    with auth_broker.config.open("a") as conf:
        conf.write(
            f"\nlistener {tls_port} 127.0.0.1\n"
            f"cafile {tls.ca}\ncertfile {tls.server_cert}\nkeyfile {tls.server_key}\n"
            "require_certificate true\n"
        )
    auth_broker.start()
    yield auth_broker, tls_port, tls


def settings(port: int, password: str, tls: TlsFiles | None = None) -> LinkSettings:
    return LinkSettings(
        host="127.0.0.1",
        port=port,
        username="k1",
        password=password,
        ca_file=tls.ca if tls else None,
        cert_file=tls.client_cert if tls else None,
        key_file=tls.client_key if tls else None,
        reconnect_min_s=0.05,
        reconnect_max_s=0.3,
        idle_poll_s=3600,
        heartbeat_interval_s=3600,
    )


def test_kiosk_credentials_fit_the_acl(auth_broker: Broker, ledger: RecordingLedger) -> None:
    peer = CoordinatorPeer(auth_broker, username="coordinator", password="c-secret").start()
    ledger.append(5)
    link = KioskLink(settings(auth_broker.port, "k1-secret"), ledger)
    try:
        link.start()
        # Every topic the link publishes and subscribes to is one its ACL grants.
        assert link.wait_for(lambda s: s.acked_seq == 5, 15) is not None, link.state()
        assert peer.first_seen == [1, 2, 3, 4, 5]
        assert peer.wait(lambda: ("k1", "online", False) in peer.statuses)
        update = p.MemberUpdate(
            store_id="s1",
            version=1,
            members=(MemberRecord(member_id="m1", display_name="Anna L."),),
        )
        peer.publish(topics.store_topic("s1"), p.encode(update))
        assert link.wait_for(lambda s: s.counters["applied"] == 1, 10)
    finally:
        link.stop()
        peer.stop()
    assert not peer.errors


def test_wrong_password_is_counted_and_retried_without_giving_up(
    auth_broker: Broker, ledger: RecordingLedger
) -> None:
    link = KioskLink(settings(auth_broker.port, "wrong"), ledger)
    try:
        link.start()
        state = link.wait_for(lambda s: s.counters["connect_failures"] >= 3, 15)
        assert state is not None and not state.connected and not state.online
        assert ledger.online_calls == []
    finally:
        link.stop()


def test_tls_with_client_certificate(
    tls_broker: tuple[Broker, int, TlsFiles], ledger: RecordingLedger
) -> None:
    broker, tls_port, tls = tls_broker
    peer = CoordinatorPeer(broker, username="coordinator", password="c-secret").start()
    ledger.append(3)
    link = KioskLink(settings(tls_port, "k1-secret", tls), ledger)
    try:
        link.start()
        assert link.wait_for(lambda s: s.acked_seq == 3, 15) is not None, link.state()
        assert peer.first_seen == [1, 2, 3]
    finally:
        link.stop()
        peer.stop()
    assert not peer.errors


def test_tls_without_the_broker_ca_never_connects(
    tls_broker: tuple[Broker, int, TlsFiles], ledger: RecordingLedger, tmp_path: Path
) -> None:
    _broker, tls_port, tls = tls_broker
    stranger = make_tls_files(tmp_path / "other-ca")  # a CA that did not sign the broker
    wrong = TlsFiles(stranger.ca, tls.server_cert, tls.server_key, tls.client_cert, tls.client_key)
    link = KioskLink(settings(tls_port, "k1-secret", wrong), ledger)
    try:
        link.start()
        state = link.wait_for(lambda s: s.counters["connect_failures"] >= 2, 15)
        assert state is not None and not state.connected
    finally:
        link.stop()
