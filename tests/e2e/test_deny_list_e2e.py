"""The deny list end to end on real processes: a card reported lost through the real
coordinator (``tapfleet coordinator``) is refused at a real kiosk (``tapfleet kiosk``, its
nfcpy reader on the udp transport), and the refusal comes back to the coordinator as the
kiosk's own event. The same run is ``bench/deny_e2e.py``, which times report to refusal."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.deny_e2e import KIOSK, measure


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_a_card_reported_lost_at_the_coordinator_is_refused_at_the_kiosk(tmp_path: Path) -> None:
    run = measure(tmp_path, rounds=2)

    assert len(run.rounds) == 2
    for card in run.rounds:
        # Accepted before the report (measure taps until then), refused after it.
        assert card.refusal["outcome"] != "accepted", card.refusal
        assert card.refusal["reason"] == "card_revoked", card.refusal
        assert card.report_to_refusal_s > 0 and card.taps_after_report >= 1

    # Every tap's event reached the coordinator from the kiosk: the card's accepted
    # check-in before the report (with its member), and one card_revoked refusal after it
    # (a revoked card names no member: only its uid).
    events = run.kiosk_events
    assert all(e["source"] == KIOSK for e in events)
    for card in run.rounds:
        of_card = [e for e in events if e["event"]["credential"]["uid"] == card.uid]  # type: ignore[index]
        kinds = [
            (e["kind"], e["member_id"], e["event"]["body"].get("reason"))  # type: ignore[index, union-attr]
            for e in sorted(of_card, key=lambda e: e["seq"])  # type: ignore[arg-type, return-value]
        ]
        # A tap before the kiosk finished its first sync is refused as not_ready (a busy
        # machine); measure taps again until the card is accepted.
        while kinds and kinds[0] == ("rejected", None, "not_ready"):
            kinds.pop(0)
        assert kinds[0] == ("checkin", card.member_id, None), kinds
        assert kinds[-1] == ("rejected", None, "card_revoked"), kinds
        assert kinds.count(("rejected", None, "card_revoked")) == 1, kinds
