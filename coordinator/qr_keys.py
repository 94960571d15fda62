"""The coordinator's QR signing keys (Ed25519, via ``shared.qrtoken``).

The private keys live in the ledger database so that every replica signs with the same
key. One key signs at a time; after a rotation the old key stays published with
``not_after_ms`` so kiosks keep honouring codes it signed until then.
"""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from coordinator import schema
from shared import qrtoken
from shared.model import QrKey


def _new_key_id() -> str:
    return "k" + uuid.uuid4().hex[:10]


def ensure_signing_key(conn: Connection, now_ms: int) -> str:
    """The id of the signing key, creating the first key when there is none."""
    q = schema.qr_keys
    key_id = conn.execute(sa.select(q.c.key_id).where(q.c.signing.is_(True))).scalar()
    if key_id is not None:
        return str(key_id)
    return _create(conn, now_ms)


def _create(conn: Connection, now_ms: int) -> str:
    key_id = _new_key_id()
    raw, public = qrtoken.generate_keypair(key_id, not_before_ms=now_ms)
    conn.execute(
        sa.insert(schema.qr_keys).values(
            key_id=key_id,
            private_key=qrtoken.encode_private_key(raw),
            public_key=public.public_key,
            not_before_ms=now_ms,
            not_after_ms=None,
            created_ms=now_ms,
            signing=True,
        )
    )
    return key_id


def rotate(conn: Connection, now_ms: int, overlap_ms: int) -> str:
    """Start signing with a new key; the old one is honoured until ``now + overlap``."""
    q = schema.qr_keys
    conn.execute(
        sa.update(q)
        .where(q.c.signing.is_(True))
        .values(signing=False, not_after_ms=now_ms + overlap_ms)
    )
    return _create(conn, now_ms)


def published_keys(conn: Connection, now_ms: int) -> tuple[QrKey, ...]:
    """Public keys kiosks need now: the signing key and retired keys still honoured."""
    q = schema.qr_keys
    rows = conn.execute(
        sa.select(q)
        .where(sa.or_(q.c.not_after_ms.is_(None), q.c.not_after_ms > now_ms))
        .order_by(q.c.created_ms)
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


def issue_member_token(conn: Connection, member_id: str, now_ms: int, ttl_s: int) -> str:
    """A signed QR token for ``member_id`` from the current signing key."""
    q = schema.qr_keys
    row = conn.execute(sa.select(q).where(q.c.signing.is_(True))).first()
    if row is None:
        raise LookupError("no QR signing key yet; the coordinator creates one at startup")
    raw = qrtoken.decode_private_key(row.private_key)
    return qrtoken.issue_token(raw, row.key_id, member_id, now_ms, ttl_s)
