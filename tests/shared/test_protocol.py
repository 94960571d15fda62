"""The codec: round trips, and every kind of bad payload gets a ProtocolError naming the field."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shared.errors import PayloadTooLarge, ProtocolError, UnsupportedVersion
from shared.events import CheckIn, ClassSignIn
from shared.model import DenyEntry
from shared.protocol import (
    MAX_PAYLOAD_BYTES,
    Ack,
    DenyListUpdate,
    EventBatch,
    Heartbeat,
    MemberUpdate,
    ReaderStatus,
    RuleBundleMessage,
    Status,
    StreamNotice,
    SyncRequest,
    Versions,
    decode,
    decode_as,
    encode,
)
from tests.support.factories import T0, bundle, kiosk_event, member


def batch(n: int = 3) -> EventBatch:
    return EventBatch(
        kiosk_id="k1",
        events=tuple(
            kiosk_event("k1", i + 1, "m1", CheckIn(points=10, reward_day="2026-01-01"))
            for i in range(n)
        ),
    )


MESSAGES = [
    batch(),
    Ack(kiosk_id="k1", acked_seq=5, resend_from=7, hlc_ms=T0, coordinator_wall_ms=T0),
    Heartbeat(
        kiosk_id="k1",
        store_id="s1",
        sent_wall_ms=T0,
        hlc_ms=T0,
        readers={"nfc": ReaderStatus(state="ok")},
        versions=Versions(rules=2),
    ),
    Status(kiosk_id="k1", state="offline"),
    SyncRequest(kiosk_id="k1", store_id="s1", versions=Versions()),
    MemberUpdate(
        store_id="s1", version=3, base_version=2, members=(member(),), included_seq={"k1": 42}
    ),
    RuleBundleMessage(bundle=bundle(version=9)),
    DenyListUpdate(
        version=2, base_version=1, added=(DenyEntry(uid="04A1B2C3D4E5F6", revoked_ms=T0),)
    ),
    StreamNotice(kiosk_id="k1", state="assign", epoch=2, start_seq=9, ledger_id="a" * 32),
    StreamNotice(
        kiosk_id="k1", state="refused", epoch=1, reason="ledger_behind", detail="re-provision"
    ),
    SyncRequest(kiosk_id="k1", store_id="s1", versions=Versions(), epoch=3, ledger_id="b" * 32),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: type(m).__name__)
def test_round_trip(message) -> None:  # type: ignore[no-untyped-def]
    assert decode(encode(message)) == message
    assert decode_as(encode(message), type(message)) == message


def mutate(message, path: list, value) -> bytes:  # type: ignore[no-untyped-def]
    data = json.loads(encode(message))
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        (mutate(batch(), ["events", 0, "seq"], 0), "events.0.seq"),
        (mutate(batch(), ["events", 1, "body", "points"], -5), "events.1.body.checkin.points"),
        (mutate(batch(), ["events", 0, "event_id"], "not-an-id"), "events.0.event_id"),
        (mutate(batch(), ["kiosk_id"], "k 1/../#"), "kiosk_id"),
        (mutate(batch(), ["events", 0, "body", "kind"], "teleport"), "events.0.body"),
        (mutate(batch(), ["events"], []), "events"),
        (mutate(batch(), ["events", 0, "sneaky"], 1), "events.0.sneaky"),
        (mutate(MESSAGES[1], ["acked_seq"], "five"), "acked_seq"),
        (mutate(MESSAGES[1], ["type"], "nope"), "<root>"),
    ],
)
def test_invalid_payload_names_the_field(payload: bytes, field: str) -> None:
    with pytest.raises(ProtocolError) as info:
        decode(payload)
    assert info.value.field == field
    assert str(info.value).endswith(f"(field: {field})")


def test_field_path_for_event_field() -> None:
    with pytest.raises(ProtocolError) as info:
        decode(mutate(batch(), ["events", 2, "seq"], -1))
    assert info.value.field == "events.2.seq"
    assert "seq" in str(info.value)


def test_wrong_version_and_oversized_and_garbage() -> None:
    with pytest.raises(UnsupportedVersion) as info:
        decode(mutate(batch(), ["v"], 2))
    assert info.value.field == "v" and info.value.kiosk_id == "k1"
    with pytest.raises(PayloadTooLarge):
        decode(b" " * (MAX_PAYLOAD_BYTES + 1))
    for junk in (b"", b"\xff\xfe", b"[1,2]", b"null", b'{"v":1}', b"{" * 100_000):
        with pytest.raises(ProtocolError):
            decode(junk)


def test_too_many_events_in_a_batch() -> None:
    data = json.loads(encode(batch(1)))
    data["events"] = data["events"] * 501
    with pytest.raises(ProtocolError) as info:
        decode(json.dumps(data).encode())
    assert info.value.field == "events"


def test_decode_as_refuses_other_types() -> None:
    with pytest.raises(ProtocolError) as info:
        decode_as(encode(MESSAGES[3]), Ack)
    assert info.value.field == "type"


def test_class_signin_session_bounds() -> None:
    body = ClassSignIn(class_session_id="c", class_type="yoga", pass_id="p1")
    good = EventBatch(kiosk_id="k1", events=(kiosk_event("k1", 1, "m1", body),))
    with pytest.raises(ProtocolError):
        decode(mutate(good, ["events", 0, "body", "sessions"], 5))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_only_ever_raise_protocol_error(raw: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        decode(raw)


@settings(max_examples=300, deadline=None)
@given(json_values, st.sampled_from(MESSAGES))
def test_random_json_grafted_into_messages_only_raises_protocol_error(value, message) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(encode(message))
    for key in list(data)[:: max(1, len(data) // 3)]:
        data[key] = value
        with contextlib.suppress(ProtocolError):
            decode(json.dumps(data).encode())


def test_fields_added_for_stream_epochs_stay_off_the_wire_at_their_default() -> None:
    """A stream that does not use epochs encodes byte for byte as builds before them did
    (their models refuse unknown fields), so either side can be updated first."""
    legacy = json.loads(encode(batch()))
    assert "epoch" not in legacy
    assert json.loads(encode(batch().model_copy(update={"epoch": 2})))["epoch"] == 2
    sync = json.loads(encode(SyncRequest(kiosk_id="k1", store_id="s1", versions=Versions())))
    assert not {"epoch", "ledger_id", "restore_epoch"} & set(sync)
    assert decode_as(encode(batch()), EventBatch).epoch == 0
