"""Member records as kiosks cache them, built from the registry and the folded ledger.

Only what a kiosk needs leaves here: id, masked name (:mod:`coordinator.security.privacy`), tier,
status, card UIDs, language and the folded ledger — never the full name or phone number.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from json.encoder import encode_basestring
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.ledger.jsonrows import ledger_from_row, loads_list
from coordinator.security.privacy import kiosk_display_name
from shared.model import DeviceKey, MemberLedger, MemberRecord, MemberStatus

EMPTY_LEDGER_JSON = MemberLedger().model_dump_json()


def record_head(
    *,
    member_id: str,
    display_name: str,
    tier: str,
    status: str,
    cards: Sequence[str],
    lang: str,
    devices: Sequence[DeviceKey] = (),
) -> str:
    """A :class:`MemberRecord`'s JSON up to its ledger: ``head + ledger JSON + "}"`` is
    the record (``display_name`` already masked with :func:`kiosk_display_name`, as
    :func:`load_records` does).

    Byte for byte what ``MemberRecord(...).model_dump_json()`` writes (the tests compare
    them), composed without parsing the stored ledger: ``member_states.ledger`` holds
    exactly ``MemberLedger.model_dump_json()`` (written by :mod:`coordinator.ledger.member_fold`),
    and parsing it back only to write it out again was most of the cost of a snapshot.
    The values come from columns the API validated on the way in, and kiosks validate the
    whole record when they decode it. Fields in the model's order, ``ledger`` last.
    """
    q = encode_basestring
    uids = ",".join(q(uid) for uid in cards)
    # ``devices`` is left out while empty, as the model does (``added_later``).
    keys = ",".join(device.model_dump_json() for device in devices)
    phones = f'"devices":[{keys}],' if devices else ""
    return (
        f'{{"member_id":{q(member_id)},"display_name":{q(display_name)},"tier":{q(tier)},'
        f'"status":{q(status)},"cards":[{uids}],"lang":{q(lang)},{phones}'
        '"ledger":'
    )


REVOKED_DEVICES_KEPT = 3
"""Revoked phones a record still lists (newest first), so a kiosk can say "this phone was
removed" rather than "unknown"; older ones drop out and are refused as unknown."""


def device_keys(conn: Connection, query_filter: Any) -> dict[str, list[DeviceKey]]:
    """Each member's pushed devices (active ones, then the newest revoked ones), for the
    members ``query_filter`` (a condition on ``member_devices``) selects."""
    d = schema.member_devices
    rows = conn.execute(
        sa.select(d.c.member_id, d.c.device_id, d.c.public_key, d.c.revoked_ms)
        .where(query_filter)
        .order_by(d.c.member_id, d.c.revoked_ms.is_not(None), d.c.revoked_ms.desc(), d.c.device_id)
    )
    found: dict[str, list[DeviceKey]] = defaultdict(list)
    revoked: dict[str, int] = defaultdict(int)
    for row in rows:
        if row.revoked_ms is not None:
            revoked[row.member_id] += 1
            if revoked[row.member_id] > REVOKED_DEVICES_KEPT:
                continue
        found[row.member_id].append(
            DeviceKey(device_id=row.device_id, public_key=row.public_key, revoked_ms=row.revoked_ms)
        )
    return found


@dataclass(frozen=True)
class ScopedRecord:
    """A record and the stores whose kiosks get it (None: every store)."""

    record: MemberRecord
    scope: frozenset[str] | None
    size: int
    """Bytes of the record's JSON (to keep messages under the payload limit)."""

    def visible_in(self, store_id: str) -> bool:
        """True when the store's kiosks should hold this member."""
        return self.scope is None or store_id in self.scope


def member_query(ledger: Any) -> sa.Select[Any]:
    """Members joined with their folded state, by id: member_id, display_name, full_name,
    phone, status, lang, store_scope, tier, then ``ledger`` (the stored ledger JSON, or an
    expression over it such as its length)."""
    m = schema.members
    ms = schema.member_states
    return (
        sa.select(
            m.c.member_id,
            m.c.display_name,
            m.c.full_name,
            m.c.phone,
            m.c.status,
            m.c.lang,
            m.c.store_scope,
            ms.c.tier,
            ledger.label("ledger"),
        )
        .select_from(m.outerjoin(ms, ms.c.member_id == m.c.member_id))
        .order_by(m.c.member_id)
    )


def load_records(conn: Connection, member_ids: Iterable[str] | None) -> list[ScopedRecord]:
    """Records of registered members (all when ``member_ids`` is None), sorted by id."""
    m = schema.members
    query = member_query(schema.member_states.c.ledger)
    wanted: list[str] | None = None
    if member_ids is not None:
        wanted = sorted(set(member_ids))
        if not wanted:
            return []
    rows: list[sa.Row[Any]] = []
    card_rows: list[sa.Row[Any]] = []
    c = schema.cards
    card_query = sa.select(c.c.member_id, c.c.uid).where(c.c.status == "active").order_by(c.c.uid)
    if wanted is None:
        rows = list(conn.execute(query))
        card_rows = list(conn.execute(card_query))
    else:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            rows.extend(conn.execute(query.where(m.c.member_id.in_(chunk))))
            card_rows.extend(conn.execute(card_query.where(c.c.member_id.in_(chunk))))
    cards: dict[str, list[str]] = defaultdict(list)
    for row in card_rows:
        cards[row.member_id].append(row.uid)
    d = schema.member_devices
    devices: dict[str, list[DeviceKey]] = defaultdict(list)
    if wanted is None:
        devices.update(device_keys(conn, sa.true()))
    else:
        for start in range(0, len(wanted), 500):
            devices.update(device_keys(conn, d.c.member_id.in_(wanted[start : start + 500])))
    out: list[ScopedRecord] = []
    for row in rows:
        record = MemberRecord(
            member_id=row.member_id,
            display_name=kiosk_display_name(row.display_name, row.full_name, row.phone),
            tier=row.tier or "basic",
            status=MemberStatus(row.status),
            cards=tuple(cards.get(row.member_id, ())),
            lang=row.lang,
            devices=tuple(devices.get(row.member_id, ())),
            ledger=ledger_from_row(row.ledger) if row.ledger else MemberLedger(),
        )
        scope = None if row.store_scope is None else frozenset(loads_list(row.store_scope))
        out.append(ScopedRecord(record, scope, len(record.model_dump_json())))
    return out
