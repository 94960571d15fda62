"""TLS on the shipped broker config (a second listener, rendered by ``broker_config``), with a
CA made in the test: the coordinator and a real kiosk work over mutual TLS; plaintext, an
unknown CA and a missing client certificate are refused."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from coordinator.mqtt.broker_config import BrokerTls
from shared.decide import Accepted
from simulators.ports import free_tcp_port
from simulators.waiting import wait_until
from tests.link.certs import make_tls_files
from tests.security.stack import Probe, live_coordinator, start_secure_broker

CARD = "04A1B2C3D4E5F6"


def test_mutual_tls_for_coordinator_and_kiosk_and_refusals(tmp_path: Path) -> None:
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
            require_certificate=True,
        ),
    )
    try:
        conf = broker.config.read_text()
        assert f"listener {tls_port} 127.0.0.1" in conf and "require_certificate true" in conf
        with live_coordinator(
            tmp_path,
            broker,
            mqtt_port=tls_port,
            mqtt_ca_file=tls.ca,
            mqtt_cert_file=tls.client_cert,
            mqtt_key_file=tls.client_key,
        ) as live:
            live.add_store("s1")
            live.add_member("m1", store_scope=["s1"])
            live.call("POST", "/api/v1/members/m1/cards", json={"uid": CARD}, expect=201)
            creds = live.provision("k1", "s1")
            link, ledger = live.real_kiosk(
                tmp_path,
                creds,
                port=tls_port,
                ca_file=tls.ca,
                cert_file=tls.client_cert,
                key_file=tls.client_key,
            )
            wait_until(lambda: ledger.real.member_summary("m1") is not None, what="k1 synced")
            outcome = ledger.real.tap_card(CARD)
            assert isinstance(outcome.decision, Accepted)
            link.notify_new_events()
            last = ledger.outbox_stats().last_seq
            assert link.wait_for(lambda s: s.acked_seq == last, 15), link.state()
            assert live.applied_seq("k1") == last

            password = creds["mqtt"]["password"]
            # Plaintext MQTT on the TLS port: the handshake fails, no CONNACK ever comes.
            plain = Probe.connect(broker, "k1", password, port=tls_port, timeout=2)
            try:
                assert plain.connack is None or plain.connack.is_failure
            finally:
                plain.close()
            # A broker certificate from a CA the client does not trust: refused by the client.
            stranger = make_tls_files(tmp_path / "stranger")
            with pytest.raises(ssl.SSLError):
                Probe.connect(broker, "k1", password, port=tls_port,
                              tls={"ca_certs": str(stranger.ca)})  # fmt: skip
            # A client certificate from that unknown CA, or none at all: refused by the broker.
            for client_tls in (
                {
                    "ca_certs": str(tls.ca),
                    "certfile": str(stranger.client_cert),
                    "keyfile": str(stranger.client_key),
                },
                {"ca_certs": str(tls.ca)},
            ):
                try:
                    probe = Probe.connect(
                        broker, "k1", password, port=tls_port, tls=client_tls, timeout=2
                    )
                except (ssl.SSLError, OSError):
                    continue  # refused during the handshake (TLS 1.2)
                try:  # TLS 1.3 reports the refusal after the handshake: no CONNACK
                    assert probe.connack is None or probe.connack.is_failure, client_tls
                finally:
                    probe.close()
            # The kiosk's own connection was never disturbed.
            assert link.state().connected and link.state().reconnects == 0
    finally:
        broker.stop()
