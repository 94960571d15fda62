"""Cold sync at fleet scale: 100,000 members in chunks of 2,000, streamed, bounded memory.

No timing assert (speed belongs to bench/); memory is asserted because holding every record
in Python at once is the failure this test exists to catch.
"""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from shared.model import MemberLedger
from shared.protocol import MemberUpdate, RuleBundleMessage
from tests.ledger.builders import KIOSK, STORE, FakeClock, open_ledger
from tests.support.factories import bundle, member, punch_pass

MEMBERS = 100_000
CHUNK = 2_000


@pytest.mark.slow
def test_hundred_thousand_member_snapshot(tmp_path: Path, clock: FakeClock):
    ledger = open_ledger(tmp_path / "ledger.db", clock)
    try:
        ledger.apply_rule_bundle(RuleBundleMessage(bundle=bundle()))
        template = MemberLedger(passes=(punch_pass("p1", 10),))
        chunks = MEMBERS // CHUNK
        outcomes = []
        tracemalloc.start()
        try:
            for k in range(chunks):
                records = tuple(
                    member(f"m{i}", cards=(f"{i + 1:08X}",), ledger=template)
                    for i in range(k * CHUNK, (k + 1) * CHUNK)
                )
                message = MemberUpdate(
                    store_id=STORE,
                    version=1,
                    full=True,
                    chunk=k,
                    chunks=chunks,
                    members=records,
                    included_seq={KIOSK: 0},
                )
                del records
                outcomes.append(ledger.apply_member_update(message))
                del message
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert outcomes == ["staged"] * (chunks - 1) + ["applied"]
        # one chunk's records plus SQLite's statement buffers; all 100k would be hundreds of MB
        assert peak < 48 * 1024 * 1024, f"peak Python memory {peak / 1e6:.1f} MB"
        status = ledger.sync_status()
        assert (status.members, status.staging_chunks, status.versions.members) == (MEMBERS, 0, 1)
        assert ledger.member_for_card(f"{MEMBERS:08X}") == f"m{MEMBERS - 1}"
        assert ledger.member_for_card(f"{1:08X}") == "m0"
        tap = ledger.tap_card(f"{54_321:08X}")
        assert tap.accepted and tap.member is not None and tap.member.member_id == "m54320"
    finally:
        ledger.close()
