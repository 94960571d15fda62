"""A conflict told for the conflicts page and API in Chinese and English: the narrator's
story, said in both languages.

:func:`story` is :func:`coordinator.ledger.narrator.narrate` (what happened to the pass,
coupon or points in ledger order, the balance after each step, the step that went over)
with each step's words said in both languages and its time in store-local time;
:func:`options` is :func:`coordinator.ledger.narrator.resolutions` (what each decision would
do to the member's balance now, with the request body of
``POST /api/v1/conflicts/{id}/resolve``) said the same way. Nothing is told here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from coordinator.ledger.narrator import Place, both, narrate, resolutions
from shared.events import Event
from shared.model import MemberLedger


@dataclass(frozen=True)
class Step:
    """One thing that happened, with the balance right after it."""

    n: int
    at_ms: int
    when: str
    store_id: str | None
    kiosk_id: str
    offline: bool
    target: bool
    what: Mapping[str, str]
    """Text per language (``zh``, ``en``)."""
    after: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Option:
    """A resolution staff can choose, and what it would do."""

    key: str
    body: Mapping[str, Any]
    text: Mapping[str, str]


def story(conflict: Mapping[str, Any], events: Sequence[Event], place: Place) -> list[Step]:
    """The steps that led to the conflict, in ledger order (the narrator's last ones)."""
    told = narrate(
        str(conflict["kind"]),
        member_id=conflict.get("member_id"),
        display_name=None,
        subject_id=conflict.get("subject_id"),
        event_id=conflict.get("event_id"),
        amount=int(conflict.get("amount") or 0),
        detail="",
        events=events,
        place=place,
    )
    return [
        Step(
            n=s.n,
            at_ms=s.at_ms,
            when=f"{place.local(s.at_ms, s.store_id):%Y-%m-%d %H:%M:%S}",
            store_id=None if s.at_hq else s.store_id,
            kiosk_id=s.kiosk_id,
            offline=s.offline,
            target=s.target,
            what=both(s.what),
            after=both(s.after) if s.after is not None else {},
        )
        for s in told.steps
    ]


def options(conflict: Mapping[str, Any], ledger: MemberLedger | None, now_ms: int) -> list[Option]:
    """What staff can decide for an open conflict, each with its effect on the balance now."""
    return [
        Option(r.key, r.body, both(r.text))
        for r in resolutions(
            str(conflict["kind"]),
            member_id=conflict.get("member_id"),
            subject_id=conflict.get("subject_id"),
            amount=int(conflict.get("amount") or 0),
            ledger=ledger,
        )
    ]
