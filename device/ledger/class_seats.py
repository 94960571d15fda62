"""Seat counts of the classes open for sign-in, as this kiosk sees them (``shared.seats``).

Taken: every member the kiosk knows signed in (the coordinator's, from the member
snapshots' sign-ins, and its own journal's). Pending here: its own sign-ins not yet folded
into the member's snapshot. The journal keeps a row until the member's snapshot includes
it, so the two sources together miss nothing this kiosk knew.
"""

from __future__ import annotations

import sqlite3

from shared.model import RuleBundle
from shared.seats import SeatCount

RECENT_MS = 3_600_000
"""Sessions whose sign-in closed within this are counted too (a door station's buffered
tap is judged at its read time)."""

_TAKEN = """
SELECT count(*) FROM (
    SELECT member_id FROM member_signins WHERE class_session_id = ?
    UNION
    SELECT member_id FROM journal WHERE class_session_id = ? AND kind = 'class_signin'
)
"""
_PENDING_HERE = """
SELECT count(DISTINCT j.member_id) FROM journal j LEFT JOIN members m ON m.member_id = j.member_id
WHERE j.class_session_id = ? AND j.kind = 'class_signin' AND j.seq > coalesce(m.included_seq, 0)
"""


def seat_counts(
    conn: sqlite3.Connection, bundle: RuleBundle, store_id: str, now_ms: int
) -> tuple[SeatCount, ...]:
    """Counts for this store's sessions with seat allocations whose sign-in is open (or
    closed within :data:`RECENT_MS`)."""
    out: list[SeatCount] = []
    for session in bundle.classes:
        if session.store_id != store_id or not session.seats:
            continue
        if not session.signin_opens_ms <= now_ms <= session.signin_closes_ms + RECENT_MS:
            continue
        sid = session.class_session_id
        taken = int(conn.execute(_TAKEN, (sid, sid)).fetchone()[0])
        pending = int(conn.execute(_PENDING_HERE, (sid,)).fetchone()[0])
        out.append(SeatCount(class_session_id=sid, taken=taken, pending_here=pending))
    return tuple(out)
