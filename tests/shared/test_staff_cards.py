"""Staff card hashes: a keyed hash per card that only that UID matches, and a rule bundle
that leaves the new field out of its encoding while empty (older kiosks refuse unknown
fields) and hands each store only its own staff's hashes."""

from __future__ import annotations

import json

from shared.model import RuleBundle, StaffCard, StaffPin
from shared.protocol import RuleBundleMessage, decode, encode
from shared.staff_cards import card_matches, hash_card_uid

CARD = "04A1B2C3D4E5F6"


def test_only_the_same_uid_matches_and_hashes_differ_per_binding() -> None:
    first, second = hash_card_uid(CARD), hash_card_uid(CARD)
    assert first != second and CARD not in first  # a fresh key per binding; no UID inside
    assert card_matches(CARD, first) and card_matches(CARD, second)
    assert card_matches("04:a1:b2:c3:d4:e5:f6", first)  # as a desk reader may type it
    assert not card_matches("04A1B2C3D4E5F7", first)
    assert not card_matches(CARD, "not-a-hash") and not card_matches(CARD, "")


def test_a_bundle_without_staff_cards_encodes_as_before() -> None:
    plain = RuleBundle(version=7, store_ids=("s1",))
    raw = json.loads(encode(RuleBundleMessage(bundle=plain)))
    assert "staff_cards" not in raw["bundle"]
    assert "staff_cards" not in plain.model_dump_json()
    carded = plain.model_copy(
        update={
            "staff_cards": (
                StaffCard(staff_id="anna", store_id="s1", card_hash=hash_card_uid(CARD)),
            )
        }
    )
    back = decode(encode(RuleBundleMessage(bundle=carded)))
    assert isinstance(back, RuleBundleMessage) and back.bundle == carded


def test_for_store_keeps_only_that_stores_staff() -> None:
    pin = "$scrypt$ln=4,r=8,p=1$c2FsdA$aGFzaA"
    bundle = RuleBundle(
        version=3,
        staff=(
            StaffPin(staff_id="anna", store_id="s1", pin_hash=pin),
            StaffPin(staff_id="bo", store_id="s2", pin_hash=pin),
        ),
        staff_cards=(
            StaffCard(staff_id="anna", store_id="s1", card_hash=hash_card_uid(CARD)),
            StaffCard(staff_id="bo", store_id="s2", card_hash=hash_card_uid("04000000000001")),
        ),
    )
    s1 = bundle.for_store("s1")
    assert [p.staff_id for p in s1.staff] == ["anna"]
    assert [c.staff_id for c in s1.staff_cards] == ["anna"]
    assert s1.version == bundle.version and s1.rules == bundle.rules
    assert bundle.for_store("s3").staff == () and bundle.for_store("s3").staff_cards == ()
