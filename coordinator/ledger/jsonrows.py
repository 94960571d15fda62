"""Turning stored JSON columns back into the shared values (one place, one serialiser)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from shared.events import Event
from shared.model import LedgerBalances, MemberLedger


def event_from_row(body: str) -> Event:
    """The Event stored in an ``events.body`` or ``held_events.body`` column."""
    return Event.model_validate_json(body)


def events_sorted(bodies: Iterable[str]) -> list[Event]:
    """Stored events in the ledger's total order (sorted in Python: SQL collations differ)."""
    return sorted((event_from_row(b) for b in bodies), key=Event.sort_key)


def ledger_from_row(text: str) -> MemberLedger:
    """The MemberLedger stored in ``member_states.ledger``."""
    return MemberLedger.model_validate_json(text)


def balances_from_row(text: str) -> LedgerBalances:
    """The balances of the ledger stored in ``member_states.ledger`` (sign-ins skipped)."""
    return LedgerBalances.model_validate_json(text)


def dumps(value: Any) -> str:
    """Compact JSON for a plain value (lists, dicts of plain values)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def loads_list(text: str | None) -> list[str]:
    """A JSON list of strings (``None`` and empty text give [])."""
    if not text:
        return []
    value = json.loads(text)
    return [str(v) for v in value] if isinstance(value, list) else []


def scope_json(store_ids: Sequence[str] | None) -> str | None:
    """Canonical JSON of a store scope (sorted, unique); ``None`` stays ``None``."""
    if store_ids is None:
        return None
    return dumps(sorted(set(store_ids)))


def json_list_contains(column: Any, value: str) -> Any:
    """SQL condition: ``column`` (a JSON list of ids written by :func:`dumps`) holds ``value``.

    A textual match with a bound, escaped LIKE pattern; callers that need certainty re-check
    the loaded list.
    """
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.like(f'%"{escaped}"%', escape="\\")
