"""Typed, versioned wire messages and the one codec for everything that crosses MQTT.

Every payload is compact UTF-8 JSON of one of the message models below, discriminated by
``type`` and carrying the protocol version ``v``. :func:`decode` is the only way in: it
checks size, JSON, version and schema, and raises a :class:`~shared.errors.ProtocolError`
subclass naming the offending field. Nothing else escapes it.
"""

from __future__ import annotations

import json
from typing import Annotated, ClassVar, Literal, TypeVar

from pydantic import Field, StringConstraints, TypeAdapter, ValidationError

from shared.errors import PayloadTooLarge, ProtocolError, UnsupportedVersion
from shared.events import Event
from shared.model import (
    Count,
    DenyEntry,
    Frozen,
    Id,
    MemberRecord,
    Ms,
    RuleBundle,
    Text,
    Uid,
)
from shared.reasons import RejectReason

PROTOCOL_VERSION = 1
MAX_PAYLOAD_BYTES = 2 * 1024 * 1024
"""Hard cap on any payload; larger ones are refused unread."""
MAX_BATCH_EVENTS = 500
MAX_SNAPSHOT_CHUNK_MEMBERS = 2000

MAX_VERSION = 2**62
"""The largest downstream version the wire carries (rules, deny-list, members)."""
Version = Annotated[int, Field(ge=0, le=MAX_VERSION)]
Seq = Annotated[int, Field(ge=0, le=2**62)]
Epoch = Annotated[int, Field(ge=0, le=2**31)]
"""A kiosk's stream epoch: 0 for a ledger the coordinator never gave one (every ledger
before streams had epochs), then 1, 2, ... as the kiosk id is re-provisioned."""
RestoreEpoch = Annotated[int, Field(ge=0, le=2**62)]
"""The coordinator's restore epoch: 0 until its database is first restored from a backup,
then the restore's time in seconds (each restore gives a different, larger one)."""
LedgerId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")]


class Message(Frozen):
    """Base of every wire message."""

    v: Literal[1] = 1

    OMIT_WHEN_DEFAULT: ClassVar[frozenset[str]] = frozenset()
    """Fields added after the first release: left out of the encoding while they hold their
    default, so a stream that does not use them is byte for byte what older builds speak
    (their models refuse unknown fields)."""


# --- kiosk -> coordinator -------------------------------------------------------------------


class EventBatch(Message):
    """Events of one kiosk, in seq order (not necessarily contiguous after a resend)."""

    type: Literal["events"] = "events"
    kiosk_id: Id
    events: Annotated[tuple[Event, ...], Field(min_length=1, max_length=MAX_BATCH_EVENTS)]
    epoch: Epoch = 0
    """The stream epoch of the ledger that recorded these events."""

    OMIT_WHEN_DEFAULT: ClassVar[frozenset[str]] = frozenset({"epoch"})


class Versions(Frozen):
    """Downstream versions a kiosk has applied (0 = nothing yet)."""

    rules: Version = 0
    deny: Version = 0
    members: Version = 0


class ReaderStatus(Frozen):
    """Health of one reader as the kiosk sees it."""

    state: Literal["ok", "starting", "unavailable", "disabled"]
    detail: Text = ""
    since_ms: Ms | None = None


class StationStatus(Frozen):
    """One door station of the kiosk, as the kiosk saw it (stations report over the LAN).

    Last seen, firmware and the station's own counts are what its hellos said; the refused
    requests are counted by the kiosk (forged, replayed, wrong key).
    """

    room: Id | None = None
    last_seen_ms: Ms | None = None
    """When the kiosk last heard a valid request from it (None: never since start)."""
    fw: Annotated[str, StringConstraints(max_length=24)] = ""
    uptime_s: Count = 0
    buffered: Count = 0
    dropped: Count = 0
    reader: Literal["ok", "fault", "unknown"] = "unknown"
    taps_accepted: Count = 0
    taps_refused: Count = 0
    errors: Annotated[
        dict[Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,20}$")], Count],
        Field(max_length=16),
    ] = {}
    """The station's own error counts (chip, unreadable, kiosk, ...), from its last hello."""
    refused_requests: Count = 0
    """Requests the kiosk refused (bad MAC, replayed, malformed): forged or wrong key."""


class Heartbeat(Message):
    """Periodic health report. Alive, connected and synced are separate facts downstream."""

    type: Literal["heartbeat"] = "heartbeat"
    kiosk_id: Id
    store_id: Id
    sent_wall_ms: Ms
    hlc_ms: Ms
    hlc_c: int = 0
    interval_s: Annotated[int, Field(ge=1, le=3600)] = 10
    uptime_s: Count = 0
    software_version: Annotated[str, StringConstraints(max_length=40)] = ""
    last_seq: Seq = 0
    acked_seq: Seq = 0
    outbox_depth: Count = 0
    oldest_unacked_age_s: Count | None = None
    versions: Versions = Versions()
    readers: dict[Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,20}$")], ReaderStatus] = {}
    last_good_tap_ms: Ms | None = None
    disk_free_bytes: Annotated[int, Field(ge=0, le=2**62)] | None = None
    """Free bytes on the ledger's file system (a Count would cap it at 1 GB)."""
    clock_offset_ms: int | None = None
    """Kiosk wall clock minus the coordinator's, as last measured (None if never measured)."""
    taps_accepted: Count = 0
    taps_refused: Count = 0
    stations: Annotated[dict[Id, StationStatus], Field(max_length=64)] = {}
    """The kiosk's door stations by id (empty when it has none)."""
    epoch: Epoch = 0
    """The stream epoch of the kiosk's ledger (``last_seq`` is a seq of that stream)."""

    OMIT_WHEN_DEFAULT: ClassVar[frozenset[str]] = frozenset({"epoch"})


class Status(Message):
    """Retained connection state: ``online`` birth message and ``offline`` last will."""

    type: Literal["status"] = "status"
    kiosk_id: Id
    state: Literal["online", "offline"]
    at_ms: Ms | None = None
    software_version: Annotated[str, StringConstraints(max_length=40)] = ""


class SyncRequest(Message):
    """Sent on (re)connect: what the kiosk has, so the coordinator can bring it up to date."""

    type: Literal["sync"] = "sync"
    kiosk_id: Id
    store_id: Id
    versions: Versions
    last_seq: Seq = 0
    epoch: Epoch | None = None
    """The ledger's stream epoch; None from builds before epochs (never checked, no
    :class:`StreamNotice` is sent to them)."""
    ledger_id: LedgerId | None = None
    """Random id of this ledger file, made when it was created: a re-provisioned epoch is
    handed to one ledger only."""
    restore_epoch: RestoreEpoch = 0
    """The coordinator restore epoch this kiosk last saw (see :class:`StreamNotice`)."""

    OMIT_WHEN_DEFAULT: ClassVar[frozenset[str]] = frozenset({"epoch", "ledger_id", "restore_epoch"})


class CouponClaim(Message):
    """Ask the coordinator to reserve a coupon before redeeming it online."""

    type: Literal["claim"] = "claim"
    kiosk_id: Id
    claim_id: Id
    member_id: Id
    coupon_id: Id
    event_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")] | None = None


# --- coordinator -> kiosk -------------------------------------------------------------------


class Ack(Message):
    """Highest contiguous seq durably applied; ``resend_from`` asks for a replay after a gap."""

    type: Literal["ack"] = "ack"
    kiosk_id: Id
    acked_seq: Seq
    resend_from: Seq | None = None
    hlc_ms: Ms
    hlc_c: int = 0
    coordinator_wall_ms: Ms


class StreamNotice(Message):
    """Where a kiosk's event stream stands, sent on its DIRECT topic in answer to a sync.

    * ``ok``: the ledger's stream is the coordinator's current one. ``applied_event_id`` is
      the id of the event at ``applied_seq``, so a ledger whose own event at that seq
      differs (restored from an old image, then tapped) finds out it diverged.
    * ``refused``: the coordinator will not take this ledger's events (a fresh ledger under
      a kiosk id whose stream is further on, an older copy of the ledger, a ledger of a
      closed epoch). ``reason`` is a code, ``detail`` says what to do; the kiosk shows it
      and records nothing until it is re-provisioned.
    * ``assign``: staff re-provisioned this kiosk id: the fresh ledger ``ledger_id`` starts
      ``epoch`` at ``start_seq``.
    * ``resync``: the coordinator was restored from a backup: sync now (the answer's Ack
      asks for everything after what the coordinator still holds).

    ``restore_epoch`` counts the coordinator's restores from backup: a kiosk that sees it
    grow re-sends its journal from ``applied_seq + 1``, acknowledged rows included.
    ``backup_verified_ms`` is when the coordinator's last verified backup was taken (the
    kiosk keeps acknowledged rows younger than that, plus a margin).
    """

    type: Literal["stream"] = "stream"
    kiosk_id: Id
    state: Literal["ok", "refused", "assign", "resync"]
    epoch: Epoch
    applied_seq: Seq = 0
    applied_event_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")] | None = None
    start_seq: Annotated[int, Field(ge=1, le=2**62)] | None = None
    ledger_id: LedgerId | None = None
    reason: Annotated[str, StringConstraints(pattern=r"^[a-z_]{1,40}$")] | None = None
    detail: Text = ""
    restore_epoch: RestoreEpoch = 0
    backup_verified_ms: Ms | None = None


class ClaimResult(Message):
    """Answer to a :class:`CouponClaim`."""

    type: Literal["claim_result"] = "claim_result"
    claim_id: Id
    coupon_id: Id
    granted: bool
    reason: RejectReason | None = None


class MemberUpdate(Message):
    """Member records for a store's kiosks: a delta, or one chunk of a full snapshot.

    A delta applies on top of ``base_version`` and brings the kiosk to ``version``; a kiosk
    whose applied version is not ``base_version`` ignores it and asks for a sync. A snapshot
    (``full``) comes in ``chunks`` parts that share ``version``; the kiosk switches to it only
    when all parts have arrived. ``included_seq`` says, per kiosk of the store, up to which
    seq that kiosk's events are folded into these records.
    """

    type: Literal["members"] = "members"
    store_id: Id
    version: Version
    base_version: Version = 0
    full: bool = False
    chunk: Annotated[int, Field(ge=0, le=100_000)] = 0
    chunks: Annotated[int, Field(ge=1, le=100_000)] = 1
    members: Annotated[tuple[MemberRecord, ...], Field(max_length=MAX_SNAPSHOT_CHUNK_MEMBERS)] = ()
    removed: tuple[Id, ...] = ()
    included_seq: dict[Id, Seq] = {}
    hlc_ms: Ms = 0
    hlc_c: int = 0


class RuleBundleMessage(Message):
    """A rule bundle for the stores it names (all stores when its scope is empty)."""

    type: Literal["rules"] = "rules"
    bundle: RuleBundle


class DenyListUpdate(Message):
    """Lost/revoked cards: a delta from ``base_version``, or the full list (``full``)."""

    type: Literal["deny"] = "deny"
    version: Version
    base_version: Version = 0
    full: bool = False
    added: tuple[DenyEntry, ...] = ()
    removed: tuple[Uid, ...] = ()


AnyMessage = Annotated[
    EventBatch
    | Heartbeat
    | Status
    | SyncRequest
    | CouponClaim
    | Ack
    | ClaimResult
    | MemberUpdate
    | RuleBundleMessage
    | DenyListUpdate
    | StreamNotice,
    Field(discriminator="type"),
]

_ADAPTER: TypeAdapter[AnyMessage] = TypeAdapter(AnyMessage)
M = TypeVar("M", bound=Message)


def encode(message: Message) -> bytes:
    """Compact JSON bytes for ``message``."""
    omit = {
        name
        for name in message.OMIT_WHEN_DEFAULT
        if getattr(message, name) == type(message).model_fields[name].default
    }
    data = message.model_dump_json(exclude=omit or None).encode("utf-8")
    if len(data) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(f"encoded {message.__class__.__name__} is {len(data)} bytes")
    return data


def _field_path(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "<root>"


def decode(payload: bytes | bytearray | memoryview) -> AnyMessage:
    """Parse and validate any Tapfleet message; raises ProtocolError (never anything else).

    The happy path parses once, straight from bytes (pydantic's JSON parser); only a payload
    that fails is parsed again with ``json`` to say precisely what is wrong with it.
    """
    raw = bytes(payload)
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise PayloadTooLarge(f"payload is {len(raw)} bytes, limit {MAX_PAYLOAD_BYTES}")
    try:
        return _ADAPTER.validate_json(raw)
    except ValidationError as exc:
        raise _diagnose(raw, exc) from exc
    except RecursionError as exc:  # pathological nesting
        raise ProtocolError("payload nests too deeply") from exc


def _diagnose(raw: bytes, exc: ValidationError) -> ProtocolError:
    """The most useful ProtocolError for a payload that failed validation."""
    try:
        head = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as parse_error:
        return ProtocolError(f"payload is not JSON: {parse_error}")
    if not isinstance(head, dict):
        return ProtocolError("payload is not a JSON object", field="<root>")
    version = head.get("v")
    if version != PROTOCOL_VERSION or isinstance(version, bool):
        return UnsupportedVersion(
            f"protocol version {version!r} is not supported (this build speaks {PROTOCOL_VERSION})",
            field="v",
            kiosk_id=_kiosk_hint(head),
        )
    first = exc.errors()[0]
    loc = tuple(first["loc"])
    if loc and loc[0] == head.get("type"):
        loc = loc[1:]  # drop the union tag pydantic puts first
    return ProtocolError(
        f"invalid {head.get('type', 'message')!s:.20}: {first['msg']}",
        field=_field_path(loc),
        kiosk_id=_kiosk_hint(head),
    )


def decode_as(payload: bytes | bytearray | memoryview, kind: type[M]) -> M:
    """Decode and require a specific message type."""
    message = decode(payload)
    if not isinstance(message, kind):
        raise ProtocolError(f"expected {kind.__name__}, got {type(message).__name__}", field="type")
    return message


def _kiosk_hint(head: dict[str, object]) -> str | None:
    kiosk = head.get("kiosk_id")
    return kiosk[:64] if isinstance(kiosk, str) else None


__all__ = [
    "MAX_BATCH_EVENTS",
    "MAX_PAYLOAD_BYTES",
    "PROTOCOL_VERSION",
    "Ack",
    "AnyMessage",
    "ClaimResult",
    "Count",
    "CouponClaim",
    "DenyListUpdate",
    "EventBatch",
    "Heartbeat",
    "MemberUpdate",
    "Message",
    "ReaderStatus",
    "RuleBundleMessage",
    "StationStatus",
    "Status",
    "StreamNotice",
    "SyncRequest",
    "Versions",
    "decode",
    "decode_as",
    "encode",
]
