"""Per-kiosk credentials and TLS with a client certificate, against a real Mosquitto."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from device.link import KioskLink, LinkSettings
from tests.link.broker import Broker, free_port
from tests.link.certs import TlsFiles, make_tls_files
from tests.link.ledgers import RecordingLedger
from tests.link.peer import CoordinatorPeer


@pytest.fixture
def secure(tmp_path: Path) -> Iterator[tuple[Broker, int, TlsFiles]]:
    """A broker with passwords: plain listener for the peer, TLS + client cert for kiosks."""
    tls = make_tls_files(tmp_path / "tls")
    passwd = tmp_path / "passwd"
    passwd.touch()
    for user, password in (("coordinator", "c-secret"), ("k1", "k1-secret")):
        subprocess.run(
            ["mosquitto_passwd", "-b", str(passwd), user, password],
            check=True,
            capture_output=True,
        )
    tls_port = free_port()
    broker = Broker(
        tmp_path / "broker",
        password_file=passwd,
        extra_lines=(
            f"listener {tls_port} 127.0.0.1",
            f"cafile {tls.ca}",
            f"certfile {tls.server_cert}",
            f"keyfile {tls.server_key}",
            "require_certificate true",
        ),
    )
    broker.start()
    try:
        yield broker, tls_port, tls
    finally:
        broker.stop()


def kiosk_settings(port: int, tls: TlsFiles, password: str) -> LinkSettings:
    return LinkSettings(
        host="127.0.0.1",
        port=port,
        username="k1",
        password=password,
        ca_file=tls.ca,
        cert_file=tls.client_cert,
        key_file=tls.client_key,
        reconnect_min_s=0.05,
        reconnect_max_s=0.3,
        idle_poll_s=3600,
        heartbeat_interval_s=3600,
    )


def test_tls_with_client_certificate_and_password(
    secure: tuple[Broker, int, TlsFiles], ledger: RecordingLedger
) -> None:
    broker, tls_port, tls = secure
    peer = CoordinatorPeer(broker, username="coordinator", password="c-secret").start()
    ledger.append(5)
    link = KioskLink(kiosk_settings(tls_port, tls, "k1-secret"), ledger)
    try:
        link.start()
        assert link.wait_for(lambda s: s.acked_seq == 5, 15) is not None, link.state()
        assert peer.first_seen == [1, 2, 3, 4, 5]
    finally:
        link.stop()
        peer.stop()
    assert not peer.errors


def test_wrong_password_is_counted_and_retried_without_giving_up(
    secure: tuple[Broker, int, TlsFiles], ledger: RecordingLedger
) -> None:
    _broker, tls_port, tls = secure
    link = KioskLink(kiosk_settings(tls_port, tls, "wrong"), ledger)
    try:
        link.start()
        state = link.wait_for(lambda s: s.counters["connect_failures"] >= 3, 15)
        assert state is not None and not state.connected and not state.online
        assert ledger.online_calls == []
    finally:
        link.stop()
