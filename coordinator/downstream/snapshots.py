"""Full member snapshots for a store's kiosks, built and sent one chunk at a time.

A new kiosk needs every member visible in its store: 100,000 members make ~50 messages of
at most 2,000 members and ~1.9 MB. Building them all before sending the first left the
kiosk idle for half of a cold sync and held the whole snapshot in memory, twice (models
and bytes). Here the chunks are a generator: the kiosk stages chunk *n* while chunk *n+1*
is built, and memory holds one chunk.

Every message says how many chunks there are, so the boundaries are fixed first. Two
passes over one consistent read of the ledger (:meth:`Database.snapshot`):

1. :func:`plan` measures every visible record (its composed header plus the stored
   ledger's byte length, read with SQL's ``octet_length``) and cuts chunks exactly where
   a list of the full records would be cut (at most 2,000 members, at most
   ``PAYLOAD_BUDGET`` bytes of records);
2. :func:`payloads` composes each chunk's records from the stored JSON
   (:func:`coordinator.downstream.member_records.record_json`, no ledger parsed) and yields the
   encoded :class:`MemberUpdate`, byte for byte what ``encode`` of the same message
   built from models would give.

The version, the kiosks' ``included_seq`` and the records come from the same read, so the
records contain exactly the events the message says they include.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from coordinator import schema
from coordinator.db import Database, read_counter
from coordinator.downstream.member_records import (
    EMPTY_LEDGER_JSON,
    device_keys,
    member_query,
    record_head,
)
from coordinator.ledger.jsonrows import loads_list
from coordinator.security.privacy import kiosk_display_name
from shared.hlc import HLC
from shared.model import DeviceKey
from shared.protocol import (
    MAX_PAYLOAD_BYTES,
    MAX_SNAPSHOT_CHUNK_MEMBERS,
    MemberUpdate,
    decode_as,
    encode,
)

PAYLOAD_BUDGET = MAX_PAYLOAD_BYTES - 128 * 1024
"""Bytes of member records per message, leaving room for the envelope and included_seq."""
PAGE = 2000
"""Members read per query while planning."""
_MEMBERS_FIELD = b'"members":[]'


class octet_length(FunctionElement[int]):
    """Byte length of a text column: ``octet_length`` (PostgreSQL), a BLOB's ``length``
    (SQLite before 3.43, which counts characters for text)."""

    type = sa.Integer()
    inherit_cache = True
    name = "octet_length"


@compiles(octet_length)
def _octet_length(element: octet_length, compiler: SQLCompiler, **kw: Any) -> str:
    return f"octet_length({compiler.process(element.clauses, **kw)})"


@compiles(octet_length, "sqlite")
def _octet_length_sqlite(element: octet_length, compiler: SQLCompiler, **kw: Any) -> str:
    return f"length(CAST({compiler.process(element.clauses, **kw)} AS BLOB))"


@dataclass(frozen=True)
class ChunkRange:
    """One chunk: the visible members with ids from ``first`` to ``last`` (inclusive)."""

    first: str
    last: str
    members: int


@dataclass(frozen=True)
class SnapshotStream:
    """A full snapshot still to be built: sent after the sync's transaction commits."""

    store_id: str
    hlc: HLC
    type: str = "members"
    """What the message metrics count each chunk as."""

    def payloads(self, db: Database) -> Iterator[bytes]:
        """The encoded chunks, built one by one inside one consistent read."""
        with db.snapshot() as conn:
            yield from payloads(conn, self.store_id, self.hlc)


def _cards(conn: Connection, first: str, last: str) -> dict[str, list[str]]:
    """Active card UIDs of the members with ids from ``first`` to ``last``, each member's
    in UID order (as :func:`coordinator.downstream.member_records.load_records` lists them)."""
    c = schema.cards
    found: dict[str, list[str]] = defaultdict(list)
    for member_id, uid in conn.execute(
        sa.select(c.c.member_id, c.c.uid)
        .where(c.c.status == "active", c.c.member_id >= first, c.c.member_id <= last)
        .order_by(c.c.uid)
    ):
        found[member_id].append(uid)
    return found


def _visible(store_scope: str | None, store_id: str) -> bool:
    return store_scope is None or store_id in loads_list(store_scope)


def _devices(conn: Connection, first: str, last: str) -> dict[str, list[DeviceKey]]:
    """Pushed devices of the members with ids from ``first`` to ``last``."""
    d = schema.member_devices
    return device_keys(conn, sa.and_(d.c.member_id >= first, d.c.member_id <= last))


def _head(row: Any, cards: dict[str, list[str]], devices: dict[str, list[DeviceKey]]) -> str:
    return record_head(
        member_id=row[0],
        display_name=kiosk_display_name(row[1], row[2], row[3]),
        tier=row[7] or "basic",
        status=row[4],
        cards=cards.get(row[0], ()),
        lang=row[5],
        devices=devices.get(row[0], ()),
    )


def plan(conn: Connection, store_id: str) -> list[ChunkRange]:
    """Chunk boundaries of the store's snapshot (at least one chunk, maybe empty)."""
    ms = schema.member_states
    query = member_query(octet_length(ms.c.ledger)).limit(PAGE)
    empty = len(EMPTY_LEDGER_JSON)
    chunks: list[ChunkRange] = []
    first = last = ""
    count = size = 0
    after: str | None = None
    while True:
        page = conn.execute(
            query if after is None else query.where(schema.members.c.member_id > after)
        ).all()
        if not page:
            break
        after = page[-1][0]
        cards = _cards(conn, page[0][0], after)
        devices = _devices(conn, page[0][0], after)
        for row in page:
            if not _visible(row[6], store_id):
                continue
            grow = len(_head(row, cards, devices).encode()) + (row[8] or empty) + 1 + 2
            if count and (count >= MAX_SNAPSHOT_CHUNK_MEMBERS or size + grow > PAYLOAD_BUDGET):
                chunks.append(ChunkRange(first, last, count))
                count = size = 0
            if not count:
                first = row[0]
            last = row[0]
            count += 1
            size += grow
    if count or not chunks:
        chunks.append(ChunkRange(first, last, count))
    return chunks


def kiosk_seqs(conn: Connection, store_id: str) -> dict[str, int]:
    """Applied seq of every (not revoked) kiosk of the store: what the records include."""
    k = schema.kiosks
    return {
        kiosk_id: int(seq)
        for kiosk_id, seq in conn.execute(
            sa.select(k.c.kiosk_id, k.c.applied_seq)
            .where(k.c.store_id == store_id, k.c.revoked.is_(False))
            .order_by(k.c.kiosk_id)
        )
    }


def chunk_records(conn: Connection, store_id: str, chunk: ChunkRange) -> list[bytes]:
    """The records of one planned chunk, as JSON."""
    if not chunk.members:
        return []
    m = schema.members
    cards = _cards(conn, chunk.first, chunk.last)
    devices = _devices(conn, chunk.first, chunk.last)
    records = [
        (_head(row, cards, devices) + (row[8] or EMPTY_LEDGER_JSON) + "}").encode()
        for row in conn.execute(
            member_query(schema.member_states.c.ledger).where(
                m.c.member_id >= chunk.first, m.c.member_id <= chunk.last
            )
        )
        if _visible(row[6], store_id)
    ]
    if len(records) != chunk.members:
        raise RuntimeError(
            f"snapshot chunk {chunk.first}..{chunk.last} changed while it was read "
            f"({len(records)} members, planned {chunk.members}); run it in Database.snapshot()"
        )
    return records


def payloads(
    conn: Connection,
    store_id: str,
    hlc: HLC,
    *,
    version: int | None = None,
    included: dict[str, int] | None = None,
) -> Iterator[bytes]:
    """The store's full snapshot as encoded :class:`MemberUpdate` chunks, one at a time.

    ``version`` and ``included`` default to what ``conn`` sees (the members counter and
    the store's kiosks' applied seqs); ``conn`` must give one consistent view throughout.
    """
    if version is None:
        version = read_counter(conn, "members_version")
    if included is None:
        included = kiosk_seqs(conn, store_id)
    chunks = plan(conn, store_id)
    for n, chunk in enumerate(chunks):
        shell = MemberUpdate(
            store_id=store_id,
            version=version,
            base_version=0,
            full=True,
            chunk=n,
            chunks=len(chunks),
            included_seq=included,
            hlc_ms=hlc.wall_ms,
            hlc_c=hlc.counter,
        )
        yield envelope(shell, chunk_records(conn, store_id, chunk))


def envelope(shell: MemberUpdate, records: Sequence[bytes]) -> bytes:
    """``encode`` of ``shell`` (a MemberUpdate without members) holding ``records`` (JSON of
    MemberRecords, as composed here): byte for byte the message built from models."""
    head, found, tail = encode(shell).partition(_MEMBERS_FIELD)
    if not found or _MEMBERS_FIELD in tail or shell.members:
        raise AssertionError("MemberUpdate JSON has no single empty members list to fill")
    return b"".join((head, b'"members":[', b",".join(records), b"]", tail))


@dataclass(frozen=True)
class ComposedRecord:
    """A member's record as JSON, and the stores whose kiosks get it (None: every store)."""

    member_id: str
    scope: frozenset[str] | None
    json: bytes

    @property
    def size(self) -> int:
        """Bytes of the record's JSON."""
        return len(self.json)

    def visible_in(self, store_id: str) -> bool:
        """True when the store's kiosks should hold this member."""
        return self.scope is None or store_id in self.scope


def composed_records(conn: Connection, member_ids: Iterable[str]) -> list[ComposedRecord]:
    """Records of these registered members, composed from the stored JSON, sorted by id
    (what :func:`coordinator.downstream.member_records.load_records` builds, without parsing)."""
    wanted = sorted(set(member_ids))
    m = schema.members
    c = schema.cards
    out: list[ComposedRecord] = []
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        cards: dict[str, list[str]] = defaultdict(list)
        for member_id, uid in conn.execute(
            sa.select(c.c.member_id, c.c.uid)
            .where(c.c.status == "active", c.c.member_id.in_(chunk))
            .order_by(c.c.uid)
        ):
            cards[member_id].append(uid)
        devices = device_keys(conn, schema.member_devices.c.member_id.in_(chunk))
        for row in conn.execute(
            member_query(schema.member_states.c.ledger).where(m.c.member_id.in_(chunk))
        ):
            scope = None if row[6] is None else frozenset(loads_list(row[6]))
            text = _head(row, cards, devices) + (row[8] or EMPTY_LEDGER_JSON) + "}"
            out.append(ComposedRecord(row[0], scope, text.encode()))
    return out


@dataclass(frozen=True)
class EncodedUpdate:
    """A member update already encoded (records composed from stored JSON)."""

    store_id: str
    payload: bytes
    type: str = "members"
    """What the message metrics count it as."""

    def message(self) -> MemberUpdate:
        """The update decoded (tests, logs)."""
        return decode_as(self.payload, MemberUpdate)


def delta(
    store_id: str,
    base: int,
    version: int,
    chosen: Sequence[ComposedRecord],
    included: dict[str, int],
    hlc: HLC,
) -> EncodedUpdate:
    """The delta from ``base`` to ``version`` for a store: the chosen members it may see,
    the others as removed."""
    shell = MemberUpdate(
        store_id=store_id,
        version=version,
        base_version=base,
        full=False,
        removed=tuple(r.member_id for r in chosen if not r.visible_in(store_id)),
        included_seq=included,
        hlc_ms=hlc.wall_ms,
        hlc_c=hlc.counter,
    )
    visible = [r.json for r in chosen if r.visible_in(store_id)]
    return EncodedUpdate(store_id, envelope(shell, visible))
