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

_SIGNED = """
SELECT member_id FROM member_signins WHERE class_session_id = ?
UNION
SELECT member_id FROM journal WHERE class_session_id = ? AND kind = 'class_signin'
"""
_PENDING_HERE = """
SELECT DISTINCT j.member_id FROM journal j LEFT JOIN members m ON m.member_id = j.member_id
WHERE j.class_session_id = ? AND j.kind = 'class_signin' AND j.seq > coalesce(m.included_seq, 0)
"""


def seat_counts(
    conn: sqlite3.Connection, bundle: RuleBundle, store_id: str, now_ms: int
) -> tuple[SeatCount, ...]:
    """Walk-in counts for this store's sessions with seat allocations whose sign-in is open
    (or closed within :data:`RECENT_MS`); booked members are left out (their seats are
    theirs)."""
    out: list[SeatCount] = []
    for session in bundle.classes:
        if session.store_id != store_id or not session.seats:
            continue
        if not session.signin_opens_ms <= now_ms <= session.signin_closes_ms + RECENT_MS:
            continue
        sid = session.class_session_id
        booked = set(session.booked)
        signed = {r[0] for r in conn.execute(_SIGNED, (sid, sid))} - booked
        pending = {r[0] for r in conn.execute(_PENDING_HERE, (sid,))} - booked
        out.append(SeatCount(class_session_id=sid, taken=len(signed), pending_here=len(pending)))
    return tuple(out)
