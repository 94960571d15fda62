"""Plain-language explanations of conflicts, for the ops staff who must decide them.

Pure functions: they get the anomaly (or the facts of a non-fold conflict) and the events
involved, and say who, which pass or coupon, which stores and kiosks, and what happened in
which order. Times are shown in the store's local time zone with the zone named.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from shared.events import (
    Adjustment,
    ClassSignIn,
    CouponIssue,
    CouponRedeem,
    Event,
    PassIssue,
    PassUpdate,
    PointsRedeem,
    Reversal,
)
from shared.fold import Anomaly, AnomalyKind

DEFAULT_TZ = "Asia/Shanghai"


@dataclass(frozen=True)
class Place:
    """Names needed to describe where things happened."""

    store_names: Mapping[str, str] = field(default_factory=dict)
    store_timezones: Mapping[str, str] = field(default_factory=dict)
    kiosk_stores: Mapping[str, str] = field(default_factory=dict)

    def store_of(self, event: Event) -> str | None:
        """The store an event happened in."""
        return event.store_id or self.kiosk_stores.get(event.kiosk_id)

    def store_label(self, store_id: str | None) -> str:
        """``Name (id)`` of a store, or ``HQ``."""
        if store_id is None:
            return "HQ"
        name = self.store_names.get(store_id)
        return f"{name} ({store_id})" if name and name != store_id else store_id

    def when(self, ms: int, store_id: str | None) -> str:
        """Local time of ``ms`` in the store's zone, e.g. ``2026-01-01 12:05:03 Asia/Shanghai``."""
        zone = self.store_timezones.get(store_id or "", DEFAULT_TZ)
        try:
            tz = ZoneInfo(zone)
        except (KeyError, ValueError):
            tz, zone = ZoneInfo(DEFAULT_TZ), DEFAULT_TZ
        local = datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(tz)
        return f"{local:%Y-%m-%d %H:%M:%S} {zone}"


def who(member_id: str | None, display_name: str | None) -> str:
    """``Name (id)`` of a member."""
    if member_id is None:
        return "an unidentified member"
    return f"{display_name} ({member_id})" if display_name else member_id


def _line(place: Place, n: int, event: Event, what: str, *, mark: str = "") -> str:
    store = place.store_of(event)
    where = (
        "HQ"
        if event.kiosk_id == "hq"
        else f"kiosk {event.kiosk_id} in store {place.store_label(store)}"
    )
    mode = ", offline" if event.offline else ""
    return f"  {n}. {place.when(event.hlc_ms, store)} at {where}{mode}: {what}{mark}"


def _pass_story(events: Sequence[Event], pass_id: str) -> list[tuple[Event, str]]:
    story: list[tuple[Event, str]] = []
    for e in events:
        b = e.body
        if isinstance(b, PassIssue) and b.pass_state.pass_id == pass_id:
            story.append((e, f"pass issued with {b.pass_state.sessions_total} session(s)"))
        elif isinstance(b, ClassSignIn) and b.pass_id == pass_id:
            story.append((e, f"class {b.class_session_id} signed in, {b.sessions} session(s) used"))
        elif isinstance(b, Reversal) and b.pass_id == pass_id and b.sessions:
            story.append((e, f"staff {b.staff_id} undid a sign-in, {b.sessions} session(s) back"))
        elif isinstance(b, Adjustment) and b.pass_id == pass_id and b.sessions_delta:
            story.append((e, f"adjusted by {b.staff_user}: {b.sessions_delta:+d} session(s)"))
        elif isinstance(b, PassUpdate) and b.pass_id == pass_id and b.sessions_total is not None:
            story.append((e, f"sessions total set to {b.sessions_total} by {b.staff_user}"))
    return story


def _coupon_story(events: Sequence[Event], coupon_id: str) -> list[tuple[Event, str]]:
    story: list[tuple[Event, str]] = []
    for e in events:
        b = e.body
        if isinstance(b, CouponIssue) and b.coupon.coupon_id == coupon_id:
            story.append((e, f"coupon '{b.coupon.title}' issued"))
        elif isinstance(b, CouponRedeem) and b.coupon_id == coupon_id:
            how = f"with online claim {b.claim_id}" if b.claim_id else "without an online claim"
            story.append((e, f"redeemed {how}"))
        elif isinstance(b, Reversal) and b.coupon_id == coupon_id:
            story.append((e, f"staff {b.staff_id} undid a redemption"))
        elif isinstance(b, Adjustment) and b.coupon_id == coupon_id and b.coupon_uses_delta:
            story.append((e, f"adjusted by {b.staff_user}: {b.coupon_uses_delta:+d} use(s)"))
    return story


def _points_story(events: Sequence[Event], upto: Event) -> list[tuple[Event, str]]:
    story = [
        (e, f"redeemed {e.body.points} points")
        for e in events
        if isinstance(e.body, PointsRedeem) and e.sort_key() <= upto.sort_key()
    ]
    return story[-8:]


def _stores_involved(place: Place, story: Sequence[tuple[Event, str]]) -> list[str]:
    return sorted({s for e, _ in story if e.kiosk_id != "hq" and (s := place.store_of(e))})


def _offline_note(place: Place, story: Sequence[tuple[Event, str]]) -> str:
    offline_kiosks = sorted({e.kiosk_id for e, _ in story if e.offline})
    if len(offline_kiosks) >= 2:
        return (
            f" Kiosks {', '.join(offline_kiosks)} were offline, so neither could see the "
            "other's use before it was recorded."
        )
    if offline_kiosks:
        return f" Kiosk {offline_kiosks[0]} was offline when it recorded its use."
    return ""


def explain_anomaly(
    anomaly: Anomaly,
    *,
    display_name: str | None,
    events: Sequence[Event],
    place: Place,
) -> tuple[str, list[str]]:
    """(explanation, store ids involved) for a fold anomaly, given the member's sorted events."""
    person = who(anomaly.member_id, display_name)
    target = next((e for e in events if e.event_id == anomaly.event_id), None)
    subject = anomaly.subject_id or ""
    if anomaly.kind in (AnomalyKind.PASS_OVERDRAWN, AnomalyKind.PASS_INVALID_AT_USE):
        story = _pass_story(events, subject)
    elif anomaly.kind in (AnomalyKind.COUPON_REUSED, AnomalyKind.COUPON_INVALID_AT_USE):
        story = _coupon_story(events, subject)
    elif anomaly.kind is AnomalyKind.POINTS_OVERDRAWN and target is not None:
        story = _points_story(events, target)
    else:
        story = [(target, f"{target.kind}")] if target else []

    headline = {
        AnomalyKind.PASS_OVERDRAWN: (
            f"Pass overdrawn: {person} used pass {subject} for {anomaly.amount} more "
            f"session(s) than it holds ({anomaly.detail})."
        ),
        AnomalyKind.PASS_INVALID_AT_USE: (
            f"Pass used when it was not valid: {person}, pass {subject} ({anomaly.detail})."
        ),
        AnomalyKind.PASS_UNKNOWN: (
            f"Unknown pass: {person} signed in with pass {subject}, which the ledger does "
            "not hold for this member."
        ),
        AnomalyKind.COUPON_REUSED: (
            f"Single-use coupon redeemed twice: {person}, coupon {subject} ({anomaly.detail})."
        ),
        AnomalyKind.COUPON_INVALID_AT_USE: (
            f"Coupon used when or where it was not valid: {person}, coupon {subject} "
            f"({anomaly.detail})."
        ),
        AnomalyKind.COUPON_UNKNOWN: (
            f"Unknown coupon: {person} redeemed coupon {subject}, which the ledger does not "
            "hold for this member."
        ),
        AnomalyKind.POINTS_OVERDRAWN: (
            f"Points overdrawn: {person} spent {anomaly.amount} point(s) more than they had "
            f"({anomaly.detail}); the shortfall is carried as points debt."
        ),
    }[anomaly.kind]

    lines = [headline]
    if story:
        lines.append("What happened, in ledger order:")
        for n, (event, what) in enumerate(story, start=1):
            mark = "  <- this one went over" if event.event_id == anomaly.event_id else ""
            lines.append(_line(place, n, event, what, mark=mark))
    stores = _stores_involved(place, story)
    if len(stores) > 1:
        lines.append(f"Stores involved: {', '.join(place.store_label(s) for s in stores)}.")
    note = _offline_note(place, story)
    if note:
        lines.append(note.strip())
    lines.append(_advice(anomaly.kind))
    if target is not None and (s := place.store_of(target)) and s not in stores:
        stores.append(s)
    return "\n".join(lines), stores


def _advice(kind: AnomalyKind) -> str:
    if kind is AnomalyKind.PASS_OVERDRAWN:
        return (
            "To resolve: accept it (no change), give the session(s) back "
            "(sessions_delta > 0), or sell the member a top-up."
        )
    if kind is AnomalyKind.COUPON_REUSED:
        return (
            "To resolve: accept the double use (coupon_uses_delta = -1 forgives it) or "
            "settle it with the member and record the outcome."
        )
    if kind is AnomalyKind.POINTS_OVERDRAWN:
        return "To resolve: forgive the debt (points_delta > 0) or leave it to be earned back."
    return "To resolve: check with the store, then record the decision."


def explain_revoked_card(
    *,
    uid: str,
    member_id: str | None,
    display_name: str | None,
    revoked_ms: int,
    reason: str,
    event: Event,
    place: Place,
) -> str:
    """A card used after it was put on the deny-list."""
    store = place.store_of(event)
    return (
        f"Revoked card used: card {uid} of {who(member_id, display_name)} was marked "
        f"{reason} at {place.when(revoked_ms, store)}, but kiosk {event.kiosk_id} in store "
        f"{place.store_label(store)} accepted it at {place.when(event.hlc_ms, store)} "
        f"({event.kind}{', offline' if event.offline else ''}). The kiosk had probably not "
        "received the deny-list yet. Check whether the card holder was the member."
    )


def explain_clock_skew(*, event: Event, received_ms: int, skew_ms: int, place: Place) -> str:
    """An event whose timestamps are implausible against the coordinator's clock."""
    store = place.store_of(event)
    ahead = skew_ms > 0
    return (
        f"Implausible timestamp: kiosk {event.kiosk_id} in store {place.store_label(store)} "
        f"stamped event {event.event_id} (seq {event.seq}, {event.kind}) at "
        f"{place.when(event.wall_ms, store)}, which is {abs(skew_ms) // 1000} s "
        f"{'ahead of' if ahead else 'behind'} the coordinator's clock when it arrived "
        f"({place.when(received_ms, store)}). "
        + (
            "A clock in the future usually means a wrong RTC or NTP setting on the kiosk."
            if ahead
            else "The kiosk's clock is probably behind (a Pi without RTC after a reboot), "
            "or the event was held back in transit."
        )
        + " Later events from this kiosk with the same problem are counted here."
    )


def explain_qr_replay(
    *,
    nonce: str,
    member_id: str | None,
    display_name: str | None,
    first: tuple[str, str | None, int],
    event: Event,
    place: Place,
) -> str:
    """The same QR token (nonce) accepted by two kiosks."""
    first_kiosk, first_store, first_ms = first
    store = place.store_of(event)
    return (
        f"QR code replayed: the member code of {who(member_id, display_name)} with nonce "
        f"{nonce} was accepted at kiosk {first_kiosk} in store {place.store_label(first_store)} "
        f"at {place.when(first_ms, first_store)} and again at kiosk {event.kiosk_id} in store "
        f"{place.store_label(store)} at {place.when(event.hlc_ms, store)}. One code is meant "
        "for one scan: a screenshot may have been shared."
    )


def explain_poisoned(
    *, kiosk_id: str, seq: int, stored_event_id: str, new_event_id: str, held: bool
) -> str:
    """A kiosk sent two different events under the same seq."""
    where = "is waiting (held) for" if held else "already recorded"
    return (
        f"Conflicting event for kiosk {kiosk_id}, seq {seq}: the ledger {where} event "
        f"{stored_event_id}, and the kiosk has now sent a different event {new_event_id} "
        "under the same seq. The first one was kept and the new one was rejected. The "
        "kiosk's journal may have been reset or restored from an old backup: stop the kiosk "
        "and compare its journal with the ledger before it records more."
    )


def explain_duplicate_id(*, event: Event, other_source: str, other_seq: int) -> str:
    """An event id that another event already carries."""
    return (
        f"Event id reused: kiosk {event.kiosk_id} sent seq {event.seq} with event id "
        f"{event.event_id}, which the ledger already holds as {other_source} seq {other_seq}. "
        "The new event was recorded under its seq for audit but not folded into balances."
    )


def explain_quarantined(*, event: Event, why: str) -> str:
    """A kiosk event recorded for audit but kept out of the balances."""
    return (
        f"Event kept out of the balances: kiosk {event.kiosk_id} sent event {event.event_id} "
        f"(seq {event.seq}, kind {event.kind}), but {why}. It is recorded so nothing is "
        "lost and the kiosk's stream continues; decide whether an adjustment is needed."
    )
