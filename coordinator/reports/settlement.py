"""Cross-store settlement of stored value: money collected at one store, spent at another.

Pure analytics over the money facts. A member's stored value is attributed first in, first
out: every top-up (paid plus bonus) is a layer owned by the store that collected it, and
every spend or refund takes from the oldest layers. A spend at store B of value collected
at store A is what A owes B for the service B gave (the franchise settlement 直营/加盟
chains run monthly). Overdrawn spends (nothing left to take from) are owed by nobody:
``None`` as the collecting store.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Iterable
from dataclasses import dataclass

from shared.events import Event, StoredValueRefund, StoredValueSpend, StoredValueTopUp


@dataclass
class _Layer:
    store_id: str | None
    left: int


def settle(
    events: Iterable[Event], start_ms: int, end_ms: int
) -> dict[tuple[str | None, str | None], int]:
    """Fen spent in ``[start_ms, end_ms)`` per (store that collected it, store where it was
    spent), from every money fact up to ``end_ms`` in ledger order (earlier top-ups fund
    later spends, so history before the period counts)."""
    layers: dict[str, deque[_Layer]] = defaultdict(deque)
    owed: dict[tuple[str | None, str | None], int] = defaultdict(int)
    for event in sorted(events, key=Event.sort_key):
        if event.member_id is None or event.hlc_ms >= end_ms:
            continue
        body = event.body
        queue = layers[event.member_id]
        if isinstance(body, StoredValueTopUp):
            queue.append(_Layer(event.store_id, body.paid_fen + body.bonus_fen))
            continue
        if isinstance(body, StoredValueSpend | StoredValueRefund):
            need = body.amount_fen
            while need and queue:
                layer = queue[0]
                take = min(need, layer.left)
                layer.left -= take
                need -= take
                if isinstance(body, StoredValueSpend) and start_ms <= event.hlc_ms:
                    owed[(layer.store_id, event.store_id)] += take
                if layer.left == 0:
                    queue.popleft()
            if need and isinstance(body, StoredValueSpend) and start_ms <= event.hlc_ms:
                owed[(None, event.store_id)] += need
    return dict(owed)
