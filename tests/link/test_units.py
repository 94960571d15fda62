"""Pure parts of the link: send window, settings (the backoff: tests/shared/test_backoff.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from device.link import KioskLink, LinkError, LinkSettings
from device.link.window import SendWindow
from device.ports import OutboxStats


def test_window_bounds_in_flight_and_plans_from_the_cursor() -> None:
    w = SendWindow(acked_seq=10, size=5, resend_after_s=1)
    plan = w.plan(batch_events=3)
    assert plan is not None and (plan.after_seq, plan.limit) == (10, 3)
    assert w.sent(plan, 13, now=0)
    plan = w.plan(batch_events=3)
    assert plan is not None and (plan.after_seq, plan.limit) == (13, 2)
    assert w.sent(plan, 15, now=0)
    assert w.in_flight == 5 and w.plan(3) is None
    assert w.acked_to(13, now=0.2) == pytest.approx(0.2)  # closes the first batch exactly
    assert w.in_flight == 2
    assert w.acked_to(14, now=0.3) is None  # not a batch end: no round trip sample


def test_window_rewind_discards_a_stale_plan() -> None:
    w = SendWindow(acked_seq=0, size=100, resend_after_s=1)
    stale = w.plan(10)
    assert stale is not None
    assert w.sent(stale, 10, now=0)
    old = w.plan(10)
    assert old is not None
    w.rewind(4)  # resend_from=5
    assert not w.sent(old, 20, now=0)
    plan = w.plan(10)
    assert plan is not None and plan.after_seq == 4


def test_window_never_rewinds_below_acked_and_jumps_forward_on_ack() -> None:
    w = SendWindow(acked_seq=0, size=100, resend_after_s=1)
    plan = w.plan(10)
    assert plan is not None and w.sent(plan, 10, now=0)
    w.acked_to(6, now=0)
    w.rewind(2)
    assert w.cursor == 6
    w.acked_to(50, now=0)  # the coordinator knows more than this pass sent
    assert (w.cursor, w.in_flight) == (50, 0)


def test_window_resends_after_silence_with_doubling_timeout() -> None:
    w = SendWindow(acked_seq=0, size=10, resend_after_s=1.0)
    assert not w.resend_due(100)
    plan = w.plan(10)
    assert plan is not None and w.sent(plan, 10, now=0)
    assert w.seconds_until_resend(0.25) == pytest.approx(0.75)
    assert not w.resend_due(0.9)
    assert w.resend_due(1.0)
    assert w.cursor == 0
    plan = w.plan(10)
    assert plan is not None and w.sent(plan, 10, now=1.0)
    assert not w.resend_due(2.5)  # second silent round waits twice as long
    assert w.resend_due(3.0)
    w.acked_to(10, now=3.1)
    assert w.seconds_until_resend(3.1) is None


def test_settings_refuse_inconsistent_tls_and_unknown_fields() -> None:
    with pytest.raises(ValidationError, match="cert_file and key_file"):
        LinkSettings(cert_file="/c.pem", ca_file="/ca.pem")
    with pytest.raises(ValidationError, match="needs ca_file"):
        LinkSettings(cert_file="/c.pem", key_file="/k.pem")
    with pytest.raises(ValidationError, match="username"):
        LinkSettings(password="secret")
    with pytest.raises(ValidationError, match="extra"):
        LinkSettings(hostname="x")
    with pytest.raises(ValidationError):
        LinkSettings(batch_events=501)  # above shared.protocol.MAX_BATCH_EVENTS
    s = LinkSettings(username="k1", password="pw", ca_file="/ca.pem")
    assert s.tls and "pw" not in repr(s)
    with pytest.raises(ValidationError):
        s.port = 1  # type: ignore[misc]  # frozen
    assert all(f.description for f in LinkSettings.model_fields.values())


def test_missing_tls_files_fail_at_start_with_a_clear_error(tmp_path: Path) -> None:
    class NoLedger:
        kiosk_id, store_id = "k1", "s1"

        def outbox_stats(self) -> OutboxStats:
            return OutboxStats(0, 0, 0, None)

    settings = LinkSettings(ca_file=tmp_path / "missing-ca.pem")
    link = KioskLink(settings, NoLedger())  # type: ignore[arg-type]
    with pytest.raises(LinkError, match=r"missing-ca\.pem"):
        link.start()
    link.stop()
