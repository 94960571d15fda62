"""Plain-language explanations of conflicts, kept with each conflict for logs and the API.

A fold anomaly's explanation is the one narrator's story
(:mod:`coordinator.ledger.narrator`) said as text; the conflicts no fold raises (revoked
card, clock skew, QR replay, poisoned or reused ids, quarantined events) have one sentence
each here. Pure functions; times in the store's local time zone with the zone named.
"""

from __future__ import annotations

from collections.abc import Sequence

from coordinator.ledger.narrator import Place, Story, narrate_anomaly, say, words
from shared.events import Event
from shared.fold import Anomaly

__all__ = ["Place", "explain_anomaly", "render_story", "who"]


def who(member_id: str | None, display_name: str | None) -> str:
    """``Name (id)`` of a member."""
    if member_id is None:
        return "an unidentified member"
    return f"{display_name} ({member_id})" if display_name else member_id


def explain_anomaly(
    anomaly: Anomaly,
    *,
    display_name: str | None,
    events: Sequence[Event],
    place: Place,
) -> tuple[str, list[str]]:
    """(explanation, store ids involved) for a fold anomaly, given the member's events.

    The story is :func:`coordinator.ledger.narrator.narrate_anomaly`'s, told in English
    without balances (nothing is folded again while the conflict is raised).
    """
    story = narrate_anomaly(
        anomaly, display_name=display_name, events=events, place=place, balances=False
    )
    return render_story(story, place, "en"), list(story.stores)


def render_story(story: Story, place: Place, lang: str = "en") -> str:
    """A conflict's story as plain text: headline, numbered steps in ledger order (times in
    the store's zone), the stores and offline kiosks involved, and the suggested resolution."""
    lines = [say(story.headline, lang)]
    if story.steps:
        lines.append(say(words("text.story"), lang))
        if story.left_out:
            lines.append("  " + say(words("text.left_out", n=story.left_out), lang))
        for step in story.steps:
            where = (
                words("text.hq")
                if step.at_hq
                else words(
                    "text.kiosk", kiosk=step.kiosk_id, store=place.store_label(step.store_id)
                )
            )
            lines.append(
                say(
                    words(
                        "text.step",
                        n=step.n,
                        when=place.when(step.at_ms, step.store_id),
                        where=where,
                        mode=say(words("text.offline"), lang) if step.offline else "",
                        what=step.what,
                        mark=say(words("text.went_over"), lang) if step.target else "",
                    ),
                    lang,
                )
            )
    told = [s for s in story.stores if s]
    if len(told) > 1:
        labels = ("、" if lang == "zh" else ", ").join(place.store_label(s) for s in sorted(told))
        lines.append(say(words("text.stores", stores=labels), lang))
    note = story.offline_note
    if note is not None:
        lines.append(say(note, lang))
    lines.append(say(story.advice, lang))
    return "\n".join(lines)


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
