"""One-time kiosk enrollment codes.

A store manager (or HQ admin) asks for a code for a kiosk id in their store; the code is
shown once, typed or pasted on the new kiosk (``tapfleet kiosk enroll``), and traded for the
kiosk's own broker credentials. Only the code's SHA-256 is stored. A code works once and
only until it expires; issuing a new code for the same kiosk id supersedes the old one.

Codes are 16 characters from a 32-letter alphabet without look-alikes (80 random bits),
shown in groups of four: ``KQ7M-3XHT-PZ9D-WA4C``. Guessing is hopeless; failed attempts are
rate limited per client address anyway.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.errors import ApiError

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
CODE_CHARS = 16


def new_code() -> str:
    """A fresh random code, in groups of four."""
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_CHARS))
    return "-".join(raw[i : i + 4] for i in range(0, CODE_CHARS, 4))


def normalize(code: str) -> str:
    """The code as compared: upper case, without dashes and spaces."""
    return "".join(code.split()).replace("-", "").upper()


def code_hash(code: str) -> str:
    """What the database keeps of a code."""
    return hashlib.sha256(normalize(code).encode("utf-8")).hexdigest()


def create(
    conn: Connection,
    *,
    kiosk_id: str,
    store_id: str,
    name: str,
    created_by: str,
    now_ms: int,
    ttl_s: int,
) -> tuple[str, int]:
    """Store a new code for ``kiosk_id`` (superseding any pending one); (code, expires_ms)."""
    e = schema.enrollment_codes
    conn.execute(
        sa.update(e)
        .where(e.c.kiosk_id == kiosk_id, e.c.used_ms.is_(None))
        .values(used_ms=now_ms, used_from="superseded")
    )
    code = new_code()
    expires_ms = now_ms + ttl_s * 1000
    conn.execute(
        sa.insert(e).values(
            code_hash=code_hash(code),
            kiosk_id=kiosk_id,
            store_id=store_id,
            name=name,
            created_by=created_by,
            created_ms=now_ms,
            expires_ms=expires_ms,
            used_ms=None,
            used_from=None,
        )
    )
    return code, expires_ms


def redeem(conn: Connection, code: str, now_ms: int, address: str) -> sa.Row[Any]:
    """Use a code up (inside the caller's transaction) and return its row; 403 otherwise.

    The update is conditional, so two kiosks racing with one code cannot both win.
    """
    e = schema.enrollment_codes
    digest = code_hash(code)
    used = conn.execute(
        sa.update(e)
        .where(e.c.code_hash == digest, e.c.used_ms.is_(None), e.c.expires_ms > now_ms)
        .values(used_ms=now_ms, used_from=address[:64])
    )
    row = conn.execute(sa.select(e).where(e.c.code_hash == digest)).first()
    if used.rowcount == 1 and row is not None:
        return row
    if row is None:
        raise ApiError(
            403,
            "enrollment_code_invalid",
            "unknown enrollment code: check what you typed, or ask for a new code",
            "code",
        )
    if row.used_from == "superseded":
        raise ApiError(
            403,
            "enrollment_code_superseded",
            "a newer enrollment code was issued for this kiosk; use that one",
            "code",
        )
    if row.used_ms is not None:
        raise ApiError(
            403,
            "enrollment_code_used",
            "this enrollment code was already used (a code works once); ask for a new code",
            "code",
        )
    raise ApiError(
        403,
        "enrollment_code_expired",
        "this enrollment code has expired; ask for a new code",
        "code",
    )


def pending(conn: Connection, now_ms: int, store_id: str | None) -> list[dict[str, Any]]:
    """Codes not yet used and not expired (never the codes themselves)."""
    e = schema.enrollment_codes
    query = (
        sa.select(e.c.kiosk_id, e.c.store_id, e.c.name, e.c.created_by, e.c.created_ms)
        .add_columns(e.c.expires_ms)
        .where(e.c.used_ms.is_(None), e.c.expires_ms > now_ms)
        .order_by(e.c.created_ms)
    )
    if store_id is not None:
        query = query.where(e.c.store_id == store_id)
    return [dict(r._mapping) for r in conn.execute(query)]
