"""A kiosk's SD card dies, or the kiosk comes back from an old image (issue 19, part 1).

Real processes: the coordinator, Mosquitto and a kiosk host (real ledger and link). The
ledger file is deleted (a replacement card) or swapped for an older copy of itself (a
restored image), and the kiosk is started again under the same kiosk id:

* the coordinator refuses the stream with a reason the kiosk shows (its taps are refused,
  nothing is recorded), never accepts it silently and never drops it silently;
* re-provisioning the kiosk id hands the next fresh ledger a new stream epoch that starts
  above everything the dead ledger was heard to hold; its taps are applied after the old
  ones;
* seqs the dead ledger was heard to hold but never delivered are reported as a lost range
  (kiosk streams API, kiosk timeline); when it delivered everything, the lost range is empty.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from coordinator import schema
from simulators.waiting import wait_until
from tests.reliability.fleet import Chain, Fleet
from tests.reliability.processes import KioskHost

LINK = {"online_grace_s": 60.0}
"""The kiosk drains only once the coordinator answered its sync (never on a timer): in the
lost-range variant the coordinator is frozen while the kiosk reconnects."""


def _delete_ledger(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


def _stream(host: KioskHost, kiosk_id: str = "k1") -> dict[str, Any]:
    state: dict[str, Any] = host.state()["kiosks"][kiosk_id]["stream"]
    return state


def _taps(fleet: Fleet, chain: Chain, n: int, start: int = 0) -> list[dict[str, Any]]:
    members = chain.member_ids()
    return [fleet.tap("k1", chain.uid(members[(start + i) % len(members)])) for i in range(n)]


def _event_ids(answers: list[dict[str, Any]]) -> list[str]:
    return [e[1] for a in answers for e in a["events"]]


def _seed(fleet: Fleet) -> tuple[Chain, KioskHost]:
    chain = fleet.seed(Chain(stores=["s1"], kiosks=[("k1", "s1")], members=10))
    host = fleet.add_host("h1", ["k1"], link=LINK)
    fleet.wait_ready()
    return chain, host


def _refused_until_reprovisioned(fleet: Fleet, chain: Chain, host: KioskHost) -> None:
    """The fresh (or older) ledger is refused with a reason; a tap records nothing."""
    wait_until(
        lambda: _stream(host)["refused"] is not None, 30, "the coordinator to refuse the ledger"
    )
    stream = _stream(host)
    assert stream["refused"] == "ledger_behind", stream
    assert "re-provision" in stream["detail"]
    answer = fleet.tap("k1", chain.uid(chain.member_ids()[0]))
    assert answer["outcome"] == "refused" and answer["reason"] == "stream_refused", answer
    assert answer["events"] == []
    history = fleet.coordinator.api("GET", "/api/v1/kiosks/k1/streams")
    assert history["epochs"][0]["refused_reason"] == "ledger_behind"


def _ready_in_epoch(fleet: Fleet, host: KioskHost, epoch: int, start_seq: int) -> None:
    wait_until(
        lambda: _stream(host)["epoch"] == epoch and _stream(host)["refused"] is None,
        30,
        f"the new ledger to take epoch {epoch}",
    )
    assert _stream(host)["start_seq"] == start_seq
    fleet.wait_ready()


def test_replaced_sd_card_continues_in_a_new_epoch_and_loses_nothing(fleet: Fleet) -> None:
    chain, host = _seed(fleet)
    before = _taps(fleet, chain, 5)
    fleet.wait_converged()
    assert fleet.coordinator.applied_seqs()["k1"] == 5

    host.kill()
    _delete_ledger(fleet.ledgers["k1"])
    fleet.restart(host)  # a replacement card: a fresh ledger under the same kiosk id
    _refused_until_reprovisioned(fleet, chain, host)
    assert fleet.coordinator.applied_seqs()["k1"] == 5

    answer = fleet.coordinator.api("POST", "/api/v1/kiosks/k1/reprovision")
    assert (answer["epoch"], answer["start_seq"], answer["lost"]) == (1, 6, [])
    _ready_in_epoch(fleet, host, 1, 6)
    after = _taps(fleet, chain, 5, start=5)
    assert all(a["outcome"] == "accepted" for a in after), after
    fleet.wait_converged()

    events = fleet.coordinator.events("k1")
    assert [e.seq for e in events] == list(range(1, 11))
    assert [e.event_id for e in events] == _event_ids(before) + _event_ids(after)
    history = fleet.coordinator.api("GET", "/api/v1/kiosks/k1/streams")
    assert history["lost"] == []
    assert [(e["epoch"], e["start_seq"]) for e in history["epochs"]] == [(1, 6), (0, 1)]
    assert history["epochs"][0]["refused_reason"] is None


def test_taps_that_never_left_the_dead_card_are_reported_as_a_lost_range(fleet: Fleet) -> None:
    chain, host = _seed(fleet)
    before = _taps(fleet, chain, 5)
    fleet.wait_converged()

    fleet.cut("k1")
    stranded = _taps(fleet, chain, 3, start=5)  # offline: recorded, never delivered
    assert [e[0] for a in stranded for e in a["events"]] == [6, 7, 8]
    # The kiosk reconnects while the coordinator is frozen: its sync and heartbeats (last
    # seq 8) wait at the broker, its events do not leave (it drains only once answered).
    coordinator = fleet.coordinator
    beats = host.state()["kiosks"]["k1"]["counters"]["heartbeats_sent"]
    os.kill(coordinator.pid, signal.SIGSTOP)
    try:
        fleet.restore("k1")
        wait_until(
            lambda: host.state()["kiosks"]["k1"]["counters"]["heartbeats_sent"] >= beats + 2,
            30,
            "the kiosk to report its seq while the coordinator is frozen",
        )
        host.kill()  # the card dies
    finally:
        os.kill(coordinator.pid, signal.SIGCONT)
    _delete_ledger(fleet.ledgers["k1"])

    s = schema.kiosk_streams
    wait_until(
        lambda: (
            coordinator.read(lambda c: c.execute(sa.select(sa.func.max(s.c.heard_seq))).scalar())
            == 8
        ),
        30,
        "the coordinator to hear of seq 8",
    )
    assert coordinator.applied_seqs()["k1"] == 5
    answer = coordinator.api("POST", "/api/v1/kiosks/k1/reprovision")
    assert answer["start_seq"] == 9
    assert [(r["first_seq"], r["last_seq"], r["count"]) for r in answer["lost"]] == [(6, 8, 3)]

    fleet.restart(host)
    _ready_in_epoch(fleet, host, 1, 9)
    after = _taps(fleet, chain, 5, start=8)
    assert all(a["outcome"] == "accepted" for a in after), after
    fleet.wait_converged()

    events = coordinator.events("k1")
    assert [e.seq for e in events] == [1, 2, 3, 4, 5, 9, 10, 11, 12, 13]
    assert [e.event_id for e in events] == _event_ids(before) + _event_ids(after)
    assert not set(_event_ids(stranded)) & {e.event_id for e in events}
    history = coordinator.api("GET", "/api/v1/kiosks/k1/streams")
    assert [(r["epoch"], r["first_seq"], r["last_seq"]) for r in history["lost"]] == [(0, 6, 8)]
    timeline = coordinator.api("GET", "/api/v1/fleet/kiosks/k1")["timeline"]
    assert any(t["fact"] == "stream" and "lost seq 6..8" in t["value"] for t in timeline)


def test_kiosk_restored_from_an_old_image_is_refused_until_reprovisioned(fleet: Fleet) -> None:
    chain, host = _seed(fleet)
    _taps(fleet, chain, 3)
    fleet.wait_converged()
    host.stop()
    image = fleet.ledgers["k1"].parent / "image"
    image.mkdir()
    for suffix in ("", "-wal", "-shm"):
        src = Path(f"{fleet.ledgers['k1']}{suffix}")
        if src.exists():
            shutil.copy2(src, image / src.name)
    fleet.restart(host)
    _taps(fleet, chain, 2, start=3)
    fleet.wait_converged()
    assert fleet.coordinator.applied_seqs()["k1"] == 5

    host.kill()
    _delete_ledger(fleet.ledgers["k1"])
    for copy in image.iterdir():
        shutil.copy2(copy, fleet.ledgers["k1"].parent / copy.name)
    fleet.restart(host)  # the old image: seq 3 of the kiosk's own ledger
    _refused_until_reprovisioned(fleet, chain, host)
    assert fleet.coordinator.applied_seqs()["k1"] == 5
    assert len(fleet.coordinator.events("k1")) == 5
