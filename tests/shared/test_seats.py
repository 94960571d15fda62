"""Class capacity at kiosks that may be offline: the seat bound holds on random fleets.

Kiosks of one studio admit students to one session with the pure check of
``shared.seats.has_seat`` on their own view (the last snapshot of who the coordinator
confirmed, plus their own admissions not in it). Hypothesis drives taps, outages,
deliveries and snapshot pushes in any interleaving; after everything is delivered the
session never holds more than ``worst_case_admitted``, and with one kiosk never more than
its capacity.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.model import ClassSession
from shared.seats import SeatCount, allocate_seats, has_seat, next_with_seats, worst_case_admitted


def session(capacity: int, kiosks: list[str], share: int = 1000, **over: object) -> ClassSession:
    fields: dict[str, object] = {
        "class_session_id": "yoga:20261207",
        "class_type": "yoga",
        "store_id": "s1",
        "title_zh": "瑜伽",
        "title_en": "Yoga",
        "starts_ms": 1_000_000,
        "ends_ms": 4_600_000,
        "capacity": capacity,
        "seats": allocate_seats(capacity, kiosks, share),
    }
    fields.update(over)
    return ClassSession.model_validate(fields)


@dataclass
class Kiosk:
    kiosk_id: str
    online: bool = True
    snapshot: frozenset[int] = frozenset()
    admitted: list[int] = field(default_factory=list)
    delivered: int = 0

    def count(self, sid: str) -> SeatCount:
        pending = [s for s in self.admitted if s not in self.snapshot]
        return SeatCount(
            class_session_id=sid,
            taken=len(self.snapshot | set(self.admitted)),
            pending_here=len(pending),
        )


def test_allocations_split_the_capacity_evenly() -> None:
    seats = allocate_seats(10, ["k3", "k1", "k2"])
    assert [(a.kiosk_id, a.seats) for a in seats] == [("k1", 4), ("k2", 3), ("k3", 3)]
    assert sum(a.seats for a in allocate_seats(10, ["k1", "k2"], 500)) == 5
    assert allocate_seats(0, ["k1"]) == () and allocate_seats(5, []) == ()


def test_one_kiosk_never_goes_over_and_a_kiosk_without_seats_admits_nobody() -> None:
    s = session(2, ["k1"])
    assert has_seat(s, "k1", SeatCount(class_session_id=s.class_session_id, taken=1))
    assert not has_seat(s, "k1", SeatCount(class_session_id=s.class_session_id, taken=2))
    assert not has_seat(s, "k9", None)
    assert worst_case_admitted(s) == 2
    legacy = s.model_copy(update={"seats": ()})
    assert has_seat(legacy, "k9", SeatCount(class_session_id=s.class_session_id, taken=99))


def test_the_next_session_with_seats_prefers_the_same_class_type() -> None:
    full = session(1, ["k1"])
    spin = session(5, ["k1"], class_session_id="spin:1", class_type="spin", starts_ms=2_000_000)
    later_full = session(1, ["k1"], class_session_id="yoga:2", starts_ms=3_000_000)
    yoga = session(5, ["k1"], class_session_id="yoga:3", starts_ms=9_000_000)
    counts = {"yoga:2": SeatCount(class_session_id="yoga:2", taken=1)}
    classes = [full, spin, later_full, yoga]
    assert next_with_seats(full, classes, "k1", counts) == yoga
    assert next_with_seats(full, [full, spin], "k1", counts) == spin
    assert next_with_seats(full, [full], "k1", counts) is None


actions = st.lists(
    st.tuples(
        st.sampled_from(["tap", "burst", "offline", "online", "push", "push_all"]),
        st.integers(0, 3),
    ),
    max_size=60,
)


@settings(max_examples=400, deadline=None)
@given(
    n=st.integers(1, 4),
    capacity=st.integers(1, 15),
    share=st.sampled_from([250, 500, 1000]),
    steps=actions,
)
def test_the_seat_bound_holds_on_random_fleets(
    n: int, capacity: int, share: int, steps: list[tuple[str, int]]
) -> None:
    kiosks = [Kiosk(f"k{i}") for i in range(n)]
    s = session(capacity, [k.kiosk_id for k in kiosks], share)
    central: set[int] = set()
    student = 0

    def deliver(k: Kiosk) -> None:
        central.update(k.admitted[k.delivered :])
        k.delivered = len(k.admitted)

    for action, index in steps:
        k = kiosks[index % n]
        for _ in range(16 if action == "burst" else 1 if action == "tap" else 0):
            student += 1
            if has_seat(s, k.kiosk_id, k.count(s.class_session_id)):
                k.admitted.append(student)
            if k.online:
                deliver(k)  # an online kiosk's events reach the coordinator at once
                k.snapshot = frozenset(central)  # and come back confirmed
        if action == "offline":
            k.online = False
        elif action == "online":
            k.online = True
            deliver(k)
        elif action == "push" and k.online:
            k.snapshot = frozenset(central)
        elif action == "push_all":
            for other in kiosks:
                if other.online:
                    other.snapshot = frozenset(central)
    for k in kiosks:
        deliver(k)
    assert len(central) <= worst_case_admitted(s)
    if n == 1:
        assert len(central) <= capacity


def test_the_bound_is_reached_when_every_kiosk_is_offline_at_the_start() -> None:
    s = session(6, ["k1", "k2"])
    kiosks = [Kiosk("k1", online=False), Kiosk("k2", online=False)]
    admitted = 0
    for k in kiosks:
        for _ in range(10):
            if has_seat(s, k.kiosk_id, k.count(s.class_session_id)):
                k.admitted.append(admitted := admitted + 1)
    # Offline from the start each kiosk fills its own three seats: the class holds.
    assert sum(len(k.admitted) for k in kiosks) == 6
    # One kiosk online filling the class, the other offline with a stale view: over by
    # the offline kiosk's allocation, which the bound allows.
    online, stale = Kiosk("k1"), Kiosk("k2", online=False)
    for student in range(1, 20):
        if has_seat(s, "k1", online.count(s.class_session_id)):
            online.admitted.append(student)
            online.snapshot = frozenset(online.admitted)  # confirmed at once
    for student in range(100, 120):
        if has_seat(s, "k2", stale.count(s.class_session_id)):
            stale.admitted.append(student)
    assert len(online.admitted) == 6 and len(stale.admitted) == 3
    assert len(online.admitted) + len(stale.admitted) == worst_case_admitted(s) == 9
    # Uneven allocations: the stale kiosk holding the larger one goes over by it.
    s7 = session(7, ["k1", "k2"])
    assert [a.seats for a in s7.seats] == [4, 3]
    online, stale = Kiosk("k2"), Kiosk("k1", online=False)
    for student in range(1, 20):
        if has_seat(s7, "k2", online.count(s7.class_session_id)):
            online.admitted.append(student)
            online.snapshot = frozenset(online.admitted)
    for student in range(100, 120):
        if has_seat(s7, "k1", stale.count(s7.class_session_id)):
            stale.admitted.append(student)
    assert len(online.admitted) + len(stale.admitted) == 11 == worst_case_admitted(s7)
