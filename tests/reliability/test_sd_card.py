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

The full-size form (``make soak``) replaces the cards of a whole fleet several times over;
``TAPFLEET_SOAK_SD_KIOSKS``, ``..._ROUNDS`` and ``..._TAPS`` size it.
"""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from coordinator import schema
from coordinator.security import page_sessions as session
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


def _taps(
    fleet: Fleet, chain: Chain, n: int, start: int = 0, kiosk_id: str = "k1"
) -> list[dict[str, Any]]:
    members = chain.member_ids()
    return [fleet.tap(kiosk_id, chain.uid(members[(start + i) % len(members)])) for i in range(n)]


def _event_ids(answers: list[dict[str, Any]]) -> list[str]:
    return [e[1] for a in answers for e in a["events"]]


def _seed(fleet: Fleet) -> tuple[Chain, KioskHost]:
    chain = fleet.seed(Chain(stores=["s1"], kiosks=[("k1", "s1")], members=10))
    host = fleet.add_host("h1", ["k1"], link=LINK)
    fleet.wait_ready()
    return chain, host


def _refused_until_reprovisioned(
    fleet: Fleet, chain: Chain, host: KioskHost, kiosk_id: str = "k1"
) -> None:
    """The fresh (or older) ledger is refused with a reason; a tap records nothing."""
    wait_until(
        lambda: _stream(host, kiosk_id)["refused"] is not None,
        30,
        "the coordinator to refuse the ledger",
    )
    stream = _stream(host, kiosk_id)
    assert stream["refused"] == "ledger_behind", stream
    assert "re-provision" in stream["detail"]
    answer = fleet.tap(kiosk_id, chain.uid(chain.member_ids()[0]))
    assert answer["outcome"] == "refused" and answer["reason"] == "stream_refused", answer
    assert answer["events"] == []
    history = fleet.coordinator.api("GET", f"/api/v1/kiosks/{kiosk_id}/streams")
    assert history["epochs"][0]["refused_reason"] == "ledger_behind"


def _ready_in_epoch(
    fleet: Fleet, host: KioskHost, epoch: int, start_seq: int, kiosk_id: str = "k1"
) -> None:
    wait_until(
        lambda: (
            _stream(host, kiosk_id)["epoch"] == epoch and _stream(host, kiosk_id)["refused"] is None
        ),
        30,
        f"the new ledger to take epoch {epoch}",
    )
    assert _stream(host, kiosk_id)["start_seq"] == start_seq
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
    with httpx.Client(base_url=coordinator.url, timeout=30) as web:
        login = web.post("/dashboard/login", data={"username": "admin", "password": "admin"})
        # The session cookie is Secure; this is plain http on localhost: carry it by hand.
        web.cookies.set(session.COOKIE, login.cookies[session.COOKIE])
        page = web.get("/dashboard/kiosks/k1", params={"lang": "en"})
    assert page.status_code == 200
    assert "Seq 6–8 of epoch 0 (3 events)" in page.text


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


def _size(name: str, default: int) -> int:
    return int(os.environ.get(f"TAPFLEET_SOAK_SD_{name}", str(default)))


@pytest.mark.soak
@pytest.mark.timeout(7200)
def test_soak_every_card_of_a_fleet_replaced_several_times(fleet: Fleet) -> None:
    """Full size: every kiosk of the fleet loses its card ``ROUNDS`` times, each epoch
    serving ``TAPS`` taps; the coordinator ends with every tap of every epoch, in seq
    order, and no lost range (every card delivered before it died)."""
    kiosks, rounds, taps = _size("KIOSKS", 8), _size("ROUNDS", 4), _size("TAPS", 40)
    ids = [f"k{i + 1}" for i in range(kiosks)]
    layout = [(k, f"s{i % 2 + 1}") for i, k in enumerate(ids)]
    chain = fleet.seed(Chain(stores=["s1", "s2"], kiosks=layout, members=40))
    hosts = {k: fleet.add_host(f"h-{k}", [k], link=LINK) for k in ids}
    fleet.wait_ready()
    shown: dict[str, list[str]] = {k: _event_ids(_taps(fleet, chain, taps, 0, k)) for k in ids}
    fleet.wait_converged()

    for epoch in range(1, rounds + 1):
        for k in ids:
            hosts[k].kill()
            _delete_ledger(fleet.ledgers[k])
            fleet.restart(hosts[k])
        for k in ids:
            _refused_until_reprovisioned(fleet, chain, hosts[k], k)
        assert fleet.coordinator.applied_seqs() == {k: taps * epoch for k in ids}
        for k in ids:
            answer = fleet.coordinator.api("POST", f"/api/v1/kiosks/{k}/reprovision")
            assert (answer["epoch"], answer["start_seq"], answer["lost"]) == (
                epoch,
                taps * epoch + 1,
                [],
            ), answer
        for k in ids:
            _ready_in_epoch(fleet, hosts[k], epoch, taps * epoch + 1, k)
        for k in ids:
            after = _taps(fleet, chain, taps, taps * epoch, k)
            assert all(a["outcome"] == "accepted" for a in after), after
            shown[k] += _event_ids(after)
        fleet.wait_converged()

    total = taps * (rounds + 1)
    for k in ids:
        events = fleet.coordinator.events(k)
        assert [e.seq for e in events] == list(range(1, total + 1)), k
        assert [e.event_id for e in events] == shown[k], k
        history = fleet.coordinator.api("GET", f"/api/v1/kiosks/{k}/streams")
        assert history["lost"] == []
        assert [(e["epoch"], e["start_seq"]) for e in history["epochs"]] == [
            (epoch, taps * epoch + 1) for epoch in range(rounds, 0, -1)
        ] + [(0, 1)]
