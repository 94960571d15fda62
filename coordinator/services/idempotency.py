"""``Idempotency-Key`` for POST routes that must happen once (purchases).

As the IETF Idempotency-Key draft and Stripe do it: the first request with a key runs and
its answer is kept; a retry with the same key and the same body gets that answer again
(nothing runs twice); the same key with another body is a 422; a retry while the first is
still running is a 409. Keys are scoped to the route and the caller and kept
:data:`KEEP_MS` (48 h, the draft asks for at least 24 h). A request that fails with a 4xx
changes nothing and leaves no key behind, so the client can fix it and retry with the same
key. A key left ``running`` by a crashed process is taken over after :data:`LEASE_MS`.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.errors import conflict, invalid
from coordinator.runtime import Coordinator

KEEP_MS = 48 * 3_600_000
LEASE_MS = 60_000
"""A ``running`` key older than this was left by a process that died: a retry runs again."""
_K = schema.idempotency_keys


def request_hash(body: Any) -> str:
    """A fingerprint of the request body (canonical JSON)."""
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def begin(
    coord: Coordinator, scope: str, key: str, fingerprint: str, now_ms: int
) -> tuple[int, dict[str, Any]] | None:
    """Claim ``key`` for this request (committed at once, so a concurrent retry sees it).

    Returns None when the request should run, or the kept ``(status, body)`` of the first
    request with this key. Raises 422 ``idempotency_key_reused`` (another body) or 409
    ``request_in_progress`` (the first is still running).
    """
    with coord.db.write() as conn:
        conn.execute(sa.delete(_K).where(_K.c.expires_ms < now_ms))
        row = conn.execute(
            sa.select(_K).where(_K.c.scope == scope, _K.c.key == key).with_for_update()
        ).first()
        if row is None:
            try:
                with conn.begin_nested():
                    conn.execute(
                        sa.insert(_K).values(
                            scope=scope,
                            key=key,
                            request_hash=fingerprint,
                            status="running",
                            created_ms=now_ms,
                            expires_ms=now_ms + KEEP_MS,
                        )
                    )
            except sa.exc.IntegrityError as exc:
                raise _in_progress() from exc
            return None
        if row.request_hash != fingerprint:
            raise invalid(
                "idempotency_key_reused",
                "this Idempotency-Key was used with another request body; use a new key for a "
                "new request",
                "Idempotency-Key",
            )
        if row.status == "done":
            return int(row.status_code), json.loads(row.response)
        if now_ms - row.created_ms < LEASE_MS:
            raise _in_progress()
        conn.execute(
            sa.update(_K).where(_K.c.scope == scope, _K.c.key == key).values(created_ms=now_ms)
        )
        return None


def finish(
    conn: Connection, scope: str, key: str, status: int, body: dict[str, Any], now_ms: int
) -> None:
    """Keep the answer, inside the request's own write transaction (so it commits with the
    facts it describes, or not at all)."""
    conn.execute(
        sa.update(_K)
        .where(_K.c.scope == scope, _K.c.key == key)
        .values(
            status="done",
            status_code=status,
            response=json.dumps(body, sort_keys=True, ensure_ascii=False),
            expires_ms=now_ms + KEEP_MS,
        )
    )


def abandon(coord: Coordinator, scope: str, key: str) -> None:
    """Forget a key whose request failed (nothing was recorded): a retry runs again."""
    with coord.db.write() as conn:
        conn.execute(
            sa.delete(_K).where(_K.c.scope == scope, _K.c.key == key, _K.c.status == "running")
        )


def _in_progress() -> Exception:
    return conflict(
        "request_in_progress",
        "a request with this Idempotency-Key is still running; retry in a moment",
        "Idempotency-Key",
    )
