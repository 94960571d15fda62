"""The coordinator's QR signing keys (Ed25519, via ``shared.qrtoken``).

The private keys live in the ledger database, sealed (:mod:`coordinator.security.key_sealing`), so
that every replica signs with the same key. A rotation never breaks a kiosk that syncs at
least once per announce period::

    T (rotate)          S = T + announce            S + overlap
    |--- new key published in every bundle, old key still signs ---|
                        |--- new key signs; old key's codes still honoured ---|
                                                    |--- old key gone ---

* The new key gets ``not_before_ms = S``; the rule bundles in force are republished at T
  with both keys, so kiosks learn the new key ahead of its first use.
* The old key keeps signing until S and gets ``not_after_ms = S + overlap``: kiosks honour
  codes it signed before then (a code's lifetime is at most ``qr_token_ttl_s``).
* Which key signs is decided by time alone (:func:`signing_key_at`), so every replica
  switches at S without any job having to run.

``announce_ms = overlap_ms = 0`` is the emergency rotation for a leaked key: the new key signs
at once and the old one drops out of the next bundles.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator import schema
from coordinator.security.key_sealing import KeySealer
from shared import qrtoken
from shared.model import QrKey


@dataclass(frozen=True)
class Rotation:
    """The timeline of one rotation."""

    new_key_id: str
    rotated_ms: int
    switch_ms: int
    """From here on the new key signs."""
    old_valid_until_ms: int
    """Codes signed by the previous key are honoured when issued before this."""


def _new_key_id() -> str:
    return "k" + uuid.uuid4().hex[:10]


def ensure_signing_key(conn: Connection, now_ms: int, sealer: KeySealer) -> str:
    """The id of the newest key, creating the first key when there is none."""
    q = schema.qr_keys
    key_id = conn.execute(sa.select(q.c.key_id).where(q.c.signing.is_(True))).scalar()
    if key_id is not None:
        return str(key_id)
    return _create(conn, now_ms, now_ms, sealer)


def seal_plain_keys(conn: Connection, sealer: KeySealer) -> int:
    """Seal keys stored in plain text by older versions; returns how many were sealed."""
    q = schema.qr_keys
    sealed = 0
    for row in conn.execute(sa.select(q.c.key_id, q.c.private_key)).all():
        if KeySealer.is_sealed(row.private_key):
            continue
        raw = qrtoken.decode_private_key(row.private_key)
        conn.execute(
            sa.update(q)
            .where(q.c.key_id == row.key_id)
            .values(private_key=sealer.seal(row.key_id, raw))
        )
        sealed += 1
    return sealed


def _create(conn: Connection, created_ms: int, not_before_ms: int, sealer: KeySealer) -> str:
    key_id = _new_key_id()
    raw, public = qrtoken.generate_keypair(key_id, not_before_ms=not_before_ms)
    conn.execute(
        sa.insert(schema.qr_keys).values(
            key_id=key_id,
            private_key=sealer.seal(key_id, raw),
            public_key=public.public_key,
            not_before_ms=not_before_ms,
            not_after_ms=None,
            created_ms=created_ms,
            signing=True,
        )
    )
    return key_id


def rotate(
    conn: Connection, now_ms: int, *, announce_ms: int, overlap_ms: int, sealer: KeySealer
) -> Rotation:
    """Add a new key that signs from ``now + announce``; the current key ends ``overlap`` later.

    The caller republishes the bundles in force so kiosks learn the new key now.
    """
    if announce_ms < 0 or overlap_ms < 0:
        raise ValueError("announce and overlap must not be negative")
    switch = now_ms + announce_ms
    q = schema.qr_keys
    conn.execute(
        sa.update(q)
        .where(q.c.not_after_ms.is_(None))
        .values(signing=False, not_after_ms=switch + overlap_ms)
    )
    conn.execute(sa.update(q).where(q.c.signing.is_(True)).values(signing=False))
    key_id = _create(conn, now_ms, switch, sealer)
    return Rotation(
        new_key_id=key_id,
        rotated_ms=now_ms,
        switch_ms=switch,
        old_valid_until_ms=switch + overlap_ms,
    )


def _valid_at(now_ms: int) -> Any:
    q = schema.qr_keys
    return sa.and_(
        q.c.not_before_ms <= now_ms,
        sa.or_(q.c.not_after_ms.is_(None), q.c.not_after_ms > now_ms),
    )


def signing_key_at(conn: Connection, now_ms: int) -> str:
    """The key that signs at ``now_ms``: the newest one already in force."""
    q = schema.qr_keys
    key_id = conn.execute(
        sa.select(q.c.key_id)
        .where(_valid_at(now_ms))
        .order_by(q.c.not_before_ms.desc(), q.c.created_ms.desc())
        .limit(1)
    ).scalar()
    if key_id is None:
        raise LookupError("no QR signing key in force; the coordinator creates one at startup")
    return str(key_id)


def published_keys(conn: Connection, now_ms: int) -> tuple[QrKey, ...]:
    """Public keys kiosks need now: keys in force, announced keys and retired keys still
    honoured."""
    q = schema.qr_keys
    rows = conn.execute(
        sa.select(q)
        .where(sa.or_(q.c.not_after_ms.is_(None), q.c.not_after_ms > now_ms))
        .order_by(q.c.created_ms, q.c.key_id)
    ).all()
    return tuple(
        QrKey(
            key_id=r.key_id,
            public_key=r.public_key,
            not_before_ms=r.not_before_ms,
            not_after_ms=r.not_after_ms,
        )
        for r in rows
    )


def issue_member_token(
    conn: Connection, member_id: str, now_ms: int, ttl_s: int, sealer: KeySealer
) -> str:
    """A signed QR token for ``member_id`` from the key that signs at ``now_ms``."""
    key_id = signing_key_at(conn, now_ms)
    q = schema.qr_keys
    sealed = conn.execute(sa.select(q.c.private_key).where(q.c.key_id == key_id)).scalar_one()
    raw = sealer.unseal(key_id, sealed)
    return qrtoken.issue_token(raw, key_id, member_id, now_ms, ttl_s)
