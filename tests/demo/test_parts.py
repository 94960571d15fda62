"""The demo's parts on their own: the catalog, the network switch, the process supervisor."""

from __future__ import annotations

import signal
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
import psutil
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import TypeAdapter

from shared.model import Uid
from shared.timetable import Timetable, TimetableException, WeeklySlot, expand
from simulators.broker import Broker
from simulators.demo.catalog import (
    SMALL_CLASS_CAPACITY,
    assign_roles,
    build_catalog,
    kiosk_layout,
    mask_en,
    mask_zh,
    small_class_session,
)
from simulators.demo.errors import ChildExited
from simulators.demo.netcut import LinkSwitch
from simulators.demo.processes import Supervisor
from simulators.waiting import wait_until

NOW_MS = 1_764_072_000_000  # 2025-11-25 20:00 in Shanghai


# --- catalog -------------------------------------------------------------------------------------


def test_names_are_masked_for_screens() -> None:
    assert mask_zh("李建华") == "李*华"
    assert mask_zh("张伟") == "张*"
    assert mask_en("Anna Lee") == "Anna L."
    catalog = build_catalog(NOW_MS)
    for member in catalog.members:
        assert member.display_name != member.full_name
        assert "*" in member.display_name or member.display_name.endswith(".")


def test_cards_are_valid_unique_and_mixed() -> None:
    catalog = build_catalog(NOW_MS)
    uids = [m.card_uid for m in catalog.members]
    assert len(set(uids)) == len(uids)
    for uid in uids:
        TypeAdapter(Uid).validate_python(uid)
    kinds = {(m.card_type, len(m.card_uid)) for m in catalog.members}
    assert kinds == {("ntag215", 14), ("felica", 16)}
    assert catalog.staff_card not in uids


def test_the_same_seed_gives_the_same_chain() -> None:
    first, again = build_catalog(NOW_MS), build_catalog(NOW_MS)
    assert first.members == again.members
    assert build_catalog(NOW_MS, seed=1).members != first.members


@pytest.mark.parametrize("hour_offset", range(0, 24, 3))
def test_the_studio_has_a_week_of_classes_that_leaves_the_open_class_alone(
    hour_offset: int,
) -> None:
    now = NOW_MS + hour_offset * 3_600_000
    catalog = build_catalog(now)
    body = catalog.studio_week
    table = Timetable(
        store_id=catalog.class_store_id,
        slots=tuple(WeeklySlot.model_validate(s) for s in body["slots"]),
        exceptions=tuple(
            TypeAdapter(TimetableException).validate_python(e) for e in body["exceptions"]
        ),
    )
    today = datetime.fromtimestamp(now / 1000, ZoneInfo("Asia/Shanghai")).date()
    week = expand(table, today, today + timedelta(days=6))
    # Three classes a day Monday to Saturday, one on Sunday, less today's busy ones, and the
    # small-group class (six seats) the demo books full two days ahead.
    assert len(week) == 20 - len(body["exceptions"])
    small = [s for s in week if s.class_session_id == small_class_session(now)]
    assert [s.capacity for s in small] == [SMALL_CLASS_CAPACITY]
    assert {s.capacity for s in week if s not in small} == {20}
    assert {s.drop_in_price_fen for s in week} == {8800}
    for later in range(0, 3 * 60, 10):  # the open class is the only one taking sign-ins
        assert not [s for s in week if s.signin_open(now + later * 60_000)]


@pytest.mark.parametrize("hour_offset", range(0, 24, 3))
def test_one_class_is_open_at_the_studio_and_none_elsewhere(hour_offset: int) -> None:
    now = NOW_MS + hour_offset * 3_600_000
    catalog = build_catalog(now)
    open_now = [c for c in catalog.classes if c.signin_open(now)]
    assert [c.class_session_id for c in open_now] == [catalog.open_class_id]
    assert open_now[0].store_id == catalog.class_store_id
    assert open_now[0].signin_open(now + 20 * 60_000)  # still open well into the demo
    for later in range(0, 3 * 60, 10):  # no other sign-in window for 3 hours
        at = now + later * 60_000
        others = [
            c.class_session_id
            for c in catalog.classes
            if c.signin_open(at) and c.class_session_id != catalog.open_class_id
        ]
        assert not others
    students = [m for m in catalog.members if m.student]
    for student in students:  # every student holds a pass meant for the open class
        [held] = student.passes
        assert held.class_types == (open_now[0].class_type,)
        assert held.store_ids == (catalog.class_store_id,)


@pytest.mark.parametrize("count", range(2, 13))
def test_every_fleet_size_has_a_story(count: int) -> None:
    kiosks = kiosk_layout(count)
    assert len({k.kiosk_id for k in kiosks}) == count
    studio, offline, partner = assign_roles(kiosks)
    assert offline not in (studio, partner)
    catalog = build_catalog(NOW_MS, kiosks=count)
    same_store = catalog.kiosk(offline).store_id == catalog.kiosk(partner).store_id
    assert (catalog.roles.coupon_member is not None) == same_store
    assert catalog.member(catalog.roles.points_member).points == 300
    guest = catalog.member(catalog.roles.hands_on_member)
    assert not guest.student and guest.home_store_id == catalog.kiosk(offline).store_id


def test_one_kiosk_is_not_a_fleet() -> None:
    with pytest.raises(ValueError, match="at least 2 kiosks"):
        assign_roles(kiosk_layout(1))


# --- network switch ------------------------------------------------------------------------------


def _client(client_id: str) -> mqtt.Client:
    return mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5)


def test_cutting_the_switch_drops_the_kiosk_and_the_broker_sends_its_will(broker: Broker) -> None:
    switch = LinkSwitch(broker.host, broker.port, name="test").start()
    wills: list[bytes] = []
    got_will = threading.Event()
    observer = _client("observer")
    observer.on_message = lambda c, u, msg: (wills.append(msg.payload), got_will.set())
    observer.connect(broker.host, broker.port)
    observer.subscribe("demo/status", qos=1)
    observer.loop_start()

    kiosk = _client("kiosk")
    kiosk.will_set("demo/status", b"offline", qos=1)
    connected, dropped = threading.Event(), threading.Event()
    kiosk.on_connect = lambda c, u, f, rc, p: connected.set() if not rc.is_failure else None
    kiosk.on_disconnect = lambda c, u, f, rc, p: dropped.set()
    kiosk.reconnect_delay_set(0.1, 0.2)
    try:
        kiosk.connect("127.0.0.1", switch.port)
        kiosk.loop_start()
        assert connected.wait(10)
        connected.clear()

        switch.cut()
        assert dropped.wait(10)
        assert got_will.wait(10) and wills == [b"offline"]
        time.sleep(1.0)  # reconnect attempts meanwhile: all refused while cut
        assert not connected.is_set()

        switch.restore()
        assert connected.wait(10)
        assert switch.connections >= 2
    finally:
        kiosk.loop_stop()
        kiosk.disconnect()
        observer.loop_stop()
        observer.disconnect()
        switch.stop()


# --- supervisor ----------------------------------------------------------------------------------


def test_children_that_ignore_sigterm_are_killed_with_their_whole_group(tmp_path: Path) -> None:
    supervisor = Supervisor(tmp_path / "pids.json")
    stubborn = supervisor.start(
        "stubborn",
        ["sh", "-c", "trap '' TERM; sleep 60 & wait"],
        log_path=tmp_path / "stubborn.log",
        tier=1,
    )
    supervisor.start(
        "polite",
        [sys.executable, "-c", "import time; time.sleep(60)"],
        log_path=tmp_path / "polite.log",
        tier=0,
    )
    wait_until(lambda: bool(psutil.Process(stubborn.pid).children()), 10, "the grandchild")
    grandchildren = psutil.Process(stubborn.pid).children()
    assert grandchildren
    report = supervisor.stop_all(grace_s=0.5)
    assert report.killed == ["stubborn"]
    assert report.exit_codes == {"stubborn": -signal.SIGKILL, "polite": -signal.SIGTERM}
    _gone, alive = psutil.wait_procs(grandchildren, timeout=5)
    assert not alive
    assert '"running": false' in (tmp_path / "pids.json").read_text()


def test_a_child_that_exits_on_its_own_is_reported_with_its_log(tmp_path: Path) -> None:
    supervisor = Supervisor(tmp_path / "pids.json")
    child = supervisor.start(
        "flaky",
        ["sh", "-c", "echo cannot open ledger; exit 3"],
        log_path=tmp_path / "flaky.log",
        tier=0,
    )
    child.popen.wait(10)
    with pytest.raises(ChildExited, match="flaky exited unexpectedly with status 3") as info:
        supervisor.check()
    assert "cannot open ledger" in str(info.value)
    supervisor.stop_all(grace_s=1)
    supervisor.check()  # stopping on purpose is not a crash
