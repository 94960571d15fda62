"""Staff credentials are scoped to their store: every rule bundle a kiosk receives (chain-wide
publish, a store's timetable layering, a PIN or card change, the catch-up on connecting)
carries its own store's staff PIN and card hashes and never another store's. Staff cards are
stored and sent as keyed hashes only; a UID is a member card or one staff card, never both;
unbinding is one action; a disabled user's card leaves the bundle republished at once; all audited.

Real coordinator app, real Mosquitto, real database; kiosks are mini kiosks on MQTT.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa

from coordinator import schema
from coordinator.errors import ApiError
from coordinator.security.auth import Principal, Role
from coordinator.services import cards, staff, users
from coordinator.services.users import NewUser
from shared.model import RuleBundle
from shared.staff_cards import card_matches
from tests.coordinator.harness import Harness
from tests.support.mini_kiosk import MiniKiosk

ADMIN = Principal("admin", Role.HQ_ADMIN, None)
MANAGER = Principal("mgr1", Role.STORE_MANAGER, "s1")
ANNA_CARD = "04A1B2C3D4E5F6"
BO_CARD = "04B0B0B0B0B0B0"
MEMBER_CARD = "04EEEEEEEEEE01"


def refused(code: str, call: Any, *args: Any) -> ApiError:
    """Run ``call`` and return the ApiError it must raise with ``code``."""
    with pytest.raises(ApiError) as info:
        call(*args)
    assert info.value.code == code, info.value.message
    return info.value


def _staff_of(bundles: list[RuleBundle]) -> set[tuple[str, str]]:
    """(store, staff id) of every PIN and card hash in ``bundles``."""
    return {(p.store_id, p.staff_id) for b in bundles for p in b.staff} | {
        (c.store_id, c.staff_id) for b in bundles for c in b.staff_cards
    }


def _newer(kiosk: MiniKiosk, version: int) -> bool:
    return kiosk.wait_for(lambda: kiosk.bundle is not None and kiosk.bundle.version >= version)


def test_each_kiosk_receives_only_its_own_stores_staff(harness: Harness) -> None:
    h = harness
    h.add_store("s1")
    h.add_store("s2")
    h.add_member("m1", home_store_id="s1")
    h.call("POST", "/api/v1/members/m1/cards", json={"uid": MEMBER_CARD}, expect=201)
    for name, role, store in (
        ("anna", Role.FRONT_DESK, "s1"),
        ("lin", Role.COACH, "s1"),
        ("bo", Role.FRONT_DESK, "s2"),
        ("mgr1", Role.STORE_MANAGER, "s1"),
    ):
        body = NewUser(username=name, password="long-enough-1", role=role, store_id=store)
        staff.create_staff(h.coord, ADMIN, body)
    ka, kb = h.kiosk("kA", "s1"), h.kiosk("kB", "s2")

    staff.set_pin(h.coord, ADMIN, "anna", staff.PinChange(pin="4711"))
    staff.set_pin(h.coord, ADMIN, "bo", staff.PinChange(pin="4711"))
    staff.bind_card(h.coord, MANAGER, "anna", staff.StaffCardBind(uid=ANNA_CARD))
    done = staff.bind_card(h.coord, ADMIN, "lin", staff.StaffCardBind(uid="04C1C1C1C1C1C1"))
    staff.bind_card(h.coord, ADMIN, "bo", staff.StaffCardBind(uid=BO_CARD))
    # A chain-wide publish, and s1's timetable layered over it (a store-scoped bundle).
    chain = h.publish_rules(note="chain")
    slot = {
        "slot_id": "y",
        "room": "r1",
        "class_type": "yoga",
        "title_zh": "瑜伽",
        "title_en": "Yoga",
        "coach": "lin",
        "weekday": 2,
        "start": "18:00",
        "length_min": 60,
        "capacity": 4,
    }
    h.call("PUT", "/api/v1/stores/s1/timetable", json={"slots": [slot]}, expect=200)
    assert _newer(ka, chain["version"]) and _newer(kb, chain["version"])
    assert done.bundle_versions and chain["version"] > done.bundle_versions[0]
    # The chain's stored bundle holds both stores' staff; what went out did not.
    assert {p.store_id for p in RuleBundle.model_validate(chain["bundle"]).staff} <= {"s1", "s2"}
    late = h.kiosk("kA2", "s1")  # catches up over its DIRECT topic on connecting

    for kiosk, store in ((ka, "s1"), (late, "s1"), (kb, "s2")):
        assert kiosk.bundles_received, kiosk.kiosk_id
        assert {s for s, _ in _staff_of(kiosk.bundles_received)} == {store}, kiosk.kiosk_id
    assert _staff_of([ka.bundle]) == {("s1", "anna"), ("s1", "lin")}  # type: ignore[list-item]
    assert _staff_of([kb.bundle]) == {("s2", "bo")}  # type: ignore[list-item]
    assert ka.bundle is not None and late.bundle is not None
    own = {c.staff_id: c for c in ka.bundle.staff_cards}
    assert card_matches(ANNA_CARD, own["anna"].card_hash) and own["lin"].role == "coach"
    assert not card_matches(BO_CARD, own["anna"].card_hash)
    assert late.bundle.version == ka.bundle.version
    # The API shows the bundle without hashes.
    shown = h.call("GET", "/api/v1/rule-bundles/current", store_id="s1", expect=200)
    assert "staff_cards" not in shown and ANNA_CARD not in json.dumps(shown)

    # Member card and staff card never share a UID; a staff card is one person's.
    refused(
        "card_is_member_card",
        staff.bind_card,
        h.coord,
        MANAGER,
        "anna",
        staff.StaffCardBind(uid=MEMBER_CARD),
    )
    refused(
        "card_is_staff_card",
        staff.bind_card,
        h.coord,
        ADMIN,
        "bo",
        staff.StaffCardBind(uid=ANNA_CARD),
    )
    refused(
        "card_is_staff_card", cards.bind_card, h.coord, ADMIN, "m1", cards.BindCard(uid=BO_CARD)
    )
    refused(
        "store_forbidden",
        staff.bind_card,
        h.coord,
        MANAGER,
        "bo",
        staff.StaffCardBind(uid="04D0D0D0D0D0D0"),
    )

    desk = Principal("anna", Role.FRONT_DESK, "s1")
    refused("manager_only", staff.bind_card, h.coord, desk, "anna",
            staff.StaffCardBind(uid="04D0D0D0D0D0D0"))  # fmt: skip
    refused("manager_only", staff.unbind_card, h.coord, desk, "lin")
    refused("kiosk_not_in_store", staff.bind_tapped_card, h.coord, ADMIN, "anna", "kB", 0)

    # Unbinding is one action.
    gone = staff.unbind_card(h.coord, MANAGER, "anna")
    assert _newer(ka, gone.bundle_versions[0])
    assert ka.bundle is not None and [c.staff_id for c in ka.bundle.staff_cards] == ["lin"]
    refused("no_staff_card", staff.unbind_card, h.coord, MANAGER, "anna")
    # Disabling a staff member republishes their store's bundle without their card.
    before = ka.bundle.version
    users.set_disabled(h.coord, ADMIN, "lin", True)
    assert _newer(ka, before + 1)
    assert ka.bundle is not None and ka.bundle.staff_cards == ()
    assert [p.staff_id for p in ka.bundle.staff] == ["anna"]  # the PIN stays

    with h.coord.db.read() as conn:
        a = schema.audit_log
        rows = list(
            conn.execute(
                sa.select(a.c.actor, a.c.action, a.c.target, a.c.detail)
                .where(a.c.action.like("staff.card%"))
                .order_by(a.c.id)
            )
        )
        stored = conn.execute(
            sa.select(schema.users.c.card_hash).where(schema.users.c.username == "bo")
        ).scalar()
    assert [(r.actor, r.action, r.target) for r in rows] == [
        ("mgr1", "staff.card_bind", "anna"),
        ("admin", "staff.card_bind", "lin"),
        ("admin", "staff.card_bind", "bo"),
        ("mgr1", "staff.card_unbind", "anna"),
    ]
    assert all(ANNA_CARD not in (r.detail or "") for r in rows)
    assert BO_CARD not in stored and card_matches(BO_CARD, stored)
