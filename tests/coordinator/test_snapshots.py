"""Streamed member snapshots (:mod:`coordinator.downstream.snapshots`), on SQLite and PostgreSQL:
the chunks composed from stored JSON are byte for byte the ones ``encode`` writes for models
built the slow way (parse every stored ledger, cut by size), whatever the names, cards,
scopes and record sizes; and the stream reads one consistent state."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from coordinator import schema
from coordinator.db import Database, read_counter
from coordinator.downstream import member_deltas as member_push
from coordinator.downstream import snapshots
from coordinator.downstream.member_deltas import catch_up, lock_kiosk_view
from coordinator.downstream.member_records import ScopedRecord, load_records, record_head
from coordinator.downstream.snapshots import PAYLOAD_BUDGET
from shared.hlc import HLC
from shared.model import DeviceKey, MemberLedger, MemberRecord, MemberStatus, PointsLot
from shared.protocol import MAX_SNAPSHOT_CHUNK_MEMBERS, MemberUpdate, decode_as, encode
from tests.coordinator.test_ledger_core import T0, Ledger
from tests.coordinator.test_ledger_core import ledger as ledger

HLC0 = HLC(T0, 3)


def reference(
    records: list[ScopedRecord], store_id: str, version: int, included: dict[str, int]
) -> list[bytes]:
    """The snapshot as models: visible records cut at 2,000 members or the byte budget."""
    visible = [r for r in records if r.visible_in(store_id)]
    chunks: list[list[MemberRecord]] = [[]]
    size = 0
    for r in visible:
        grow = len(r.record.model_dump_json().encode()) + 2
        if chunks[-1] and (
            len(chunks[-1]) >= MAX_SNAPSHOT_CHUNK_MEMBERS or size + grow > PAYLOAD_BUDGET
        ):
            chunks.append([])
            size = 0
        chunks[-1].append(r.record)
        size += grow
    return [
        encode(
            MemberUpdate(
                store_id=store_id,
                version=version,
                full=True,
                chunk=n,
                chunks=len(chunks),
                members=tuple(chunk),
                included_seq=included,
                hlc_ms=HLC0.wall_ms,
                hlc_c=HLC0.counter,
            )
        )
        for n, chunk in enumerate(chunks)
    ]


def big_ledger(lots: int) -> str:
    return MemberLedger(
        points_lots=tuple(
            PointsLot(lot_id=f"lot{i:05d}", earned_ms=T0, expires_ms=T0 + i, amount=i, remaining=i)
            for i in range(lots)
        ),
        checkins=lots,
    ).model_dump_json()


def add_members(db: Database, rows: list[dict[str, object]], ledgers: dict[str, str]) -> None:
    with db.write() as conn:
        conn.execute(sa.insert(schema.members), rows)
        conn.execute(
            sa.insert(schema.member_states),
            [
                {"member_id": m, "ledger": text, "tier": "gold", "version": 1, "updated_ms": T0}
                for m, text in ledgers.items()
            ],
        )


def stream(db: Database, store_id: str) -> Iterator[bytes]:
    with db.snapshot() as conn:
        yield from snapshots.payloads(conn, store_id, HLC0)


def test_record_head_writes_what_the_model_writes() -> None:
    names = ['Anna "A." L.', "李*华", "tab\there\nnew", "\\back\\slash", "emoji 😀", "\x01\x7f"]
    for name in names:
        ledger_json = big_ledger(2)
        record = MemberRecord(
            member_id="m-1.x:y",
            display_name=name,
            tier="gold",
            status=MemberStatus.SUSPENDED,
            cards=("04A1B2C3", "04A1B2C3D4E5F6"),
            lang="en",
            ledger=MemberLedger.model_validate_json(ledger_json),
        )
        head = record_head(
            member_id="m-1.x:y",
            display_name=name,
            tier="gold",
            status="suspended",
            cards=("04A1B2C3", "04A1B2C3D4E5F6"),
            lang="en",
        )
        assert head + ledger_json + "}" == record.model_dump_json()
    devices = (
        DeviceKey(device_id="d1", public_key="A" * 43),
        DeviceKey(device_id="d-0", public_key="B" * 43, revoked_ms=1_700_000_000_000),
    )
    with_devices = MemberRecord(member_id="m1", display_name="A", devices=devices)
    head = record_head(
        member_id="m1", display_name="A", tier="basic", status="active", cards=(), lang="zh",
        devices=devices,
    )  # fmt: skip
    assert head + MemberLedger().model_dump_json() + "}" == with_devices.model_dump_json()


def test_streamed_chunks_equal_the_model_built_snapshot(ledger: Ledger) -> None:
    db = ledger.db
    rows: list[dict[str, object]] = []
    ledgers: dict[str, str] = {}
    for i in range(2300):
        member_id = f"n{i:05d}"
        scope = None if i % 7 else ('["s2"]' if i % 2 else '["s1","s2"]')
        name = ("王小明", 'Bo "B" Li', "Tel 138 0013 8000", "a\nb")[i % 4]
        rows.append(
            {
                "member_id": member_id,
                "display_name": name,
                "full_name": "王小明" if i % 4 == 0 else "",
                "phone": "13800138000",
                "status": "suspended" if i % 11 == 0 else "active",
                "lang": "en" if i % 3 else "zh",
                "store_scope": scope,
                "created_ms": T0,
            }
        )
        if i % 13:  # the others have no state row yet: an empty ledger
            ledgers[member_id] = big_ledger(1 + i % 5)
    # A few members with very large ledgers force chunks cut by bytes, not by count.
    for i in range(40):
        member_id = f"z{i:03d}"
        rows.append({**rows[0], "member_id": member_id, "store_scope": None})
        ledgers[member_id] = big_ledger(700)
    add_members(db, rows, ledgers)
    with db.write() as conn:
        conn.execute(
            sa.insert(schema.cards),
            [
                {
                    "uid": f"04{i:06X}",
                    "member_id": f"n{i % 900:05d}",
                    "bound_ms": T0,
                    "status": "active",
                }
                for i in range(1200)
            ],
        )
        conn.execute(
            sa.insert(schema.cards).values(
                uid="04FFFFFF", member_id="n00001", bound_ms=T0, status="lost"
            )
        )
        conn.execute(
            sa.update(schema.kiosks).where(schema.kiosks.c.kiosk_id == "k2").values(applied_seq=7)
        )
    with db.read() as conn:
        records = load_records(conn, None)
        version = read_counter(conn, "members_version")
    for store_id, included in (("s1", {"k1": 0, "k2": 7}), ("s2", {"k3": 0})):
        got = list(stream(db, store_id))
        want = reference(records, store_id, version, included)
        assert len(got) == len(want) >= 3
        for n, (g, w) in enumerate(zip(got, want, strict=True)):
            assert g == w, f"store {store_id} chunk {n} differs"
        sizes = [len(decode_as(g, MemberUpdate).members) for g in got]
        assert max(sizes) == MAX_SNAPSHOT_CHUNK_MEMBERS and min(sizes) < 100, sizes


def test_empty_store_is_one_empty_chunk(ledger: Ledger) -> None:
    with ledger.db.write() as conn:
        conn.execute(sa.update(schema.members).values(store_scope='["s9"]'))
    [only] = [decode_as(p, MemberUpdate) for p in stream(ledger.db, "s1")]
    assert (only.chunk, only.chunks, only.members, only.full) == (0, 1, (), True)


def test_stream_reads_one_state_while_ingest_commits(ledger: Ledger) -> None:
    """Changes committed while the chunks are built do not leak into them."""
    add_members(
        ledger.db,
        [{"member_id": f"n{i:05d}", "display_name": "N", "created_ms": T0} for i in range(4500)],
        {f"n{i:05d}": big_ledger(1) for i in range(4500)},
    )
    chunks = stream(ledger.db, "s1")
    first = decode_as(next(chunks), MemberUpdate)
    with ledger.db.write() as conn:
        conn.execute(
            sa.update(schema.member_states)
            .where(schema.member_states.c.member_id == "n04400")
            .values(ledger=big_ledger(3))
        )
        conn.execute(sa.update(schema.kiosks).values(applied_seq=99))
        conn.execute(sa.delete(schema.members).where(schema.members.c.member_id == "n04000"))
    rest = [decode_as(p, MemberUpdate) for p in chunks]
    assert first.chunks == 3 and [c.chunk for c in rest] == [1, 2]
    assert {c.included_seq["k1"] for c in [first, *rest]} == {0}
    records = {r.member_id: r for c in [first, *rest] for r in c.members}
    assert "n04000" in records
    assert len(records["n04400"].ledger.points_lots) == 1


def test_catch_up_builds_the_same_snapshot_in_its_transaction(ledger: Ledger) -> None:
    with ledger.db.write() as conn:
        conn.execute(
            sa.update(schema.counters)
            .where(schema.counters.c.name == "members_version")
            .values(value=5)
        )
    with ledger.db.write() as conn:
        current = read_counter(conn, "members_version")
        built = catch_up(conn, "s1", 0, max_delta_members=10, hlc=HLC0)
    with ledger.db.write() as conn:
        lock_kiosk_view(conn)
        streamed = [decode_as(p, MemberUpdate) for p in snapshots.payloads(conn, "s1", HLC0)]
    assert built == streamed
    assert [r.member_id for r in built[0].members] == ["m1", "m2"]
    assert built[0].version == current == 5 and built[0].included_seq == {"k1": 0, "k2": 0}


@pytest.mark.parametrize("lots", [0, 3])
def test_octet_length_counts_bytes(ledger: Ledger, lots: int) -> None:
    text = big_ledger(lots).replace("lot", "批次")  # not ASCII: bytes != characters
    add_members(ledger.db, [{"member_id": "x", "display_name": "X", "created_ms": T0}], {"x": text})
    ms = schema.member_states
    with ledger.db.read() as conn:
        n = conn.execute(
            sa.select(snapshots.octet_length(ms.c.ledger)).where(ms.c.member_id == "x")
        ).scalar_one()
    assert n == len(text.encode())


def test_pushed_deltas_equal_the_model_built_deltas(ledger: Ledger) -> None:
    rows: list[dict[str, object]] = [
        {
            "member_id": f"d{i:03d}",
            "display_name": ("王小明", 'Q "uote"', "x\ty")[i % 3],
            "full_name": "王小明" if i % 3 == 0 else "",
            "phone": "",
            "status": "active",
            "lang": "zh",
            "store_scope": None if i % 4 else '["s2"]',
            "created_ms": T0,
        }
        for i in range(60)
    ]
    add_members(ledger.db, rows, {f"d{i:03d}": big_ledger(i % 4) for i in range(0, 60, 2)})
    with ledger.db.write() as conn:
        conn.execute(
            sa.insert(schema.cards),
            [
                {"uid": f"04{i:06X}", "member_id": f"d{i % 60:03d}", "bound_ms": T0}
                for i in range(90)
            ],
        )
        conn.execute(sa.update(schema.member_states).values(dirty=True))
        without_state = [f"d{i:03d}" for i in range(1, 60, 2)] + ["m1", "m2"]
        conn.execute(
            sa.insert(schema.member_states),
            [
                {"member_id": m, "ledger": big_ledger(0), "dirty": True, "updated_ms": T0}
                for m in without_state
            ],
        )
    with ledger.db.write() as conn:
        base = read_counter(conn, "members_version")
        dirty = sorted(conn.execute(sa.select(schema.member_states.c.member_id)).scalars())
        records = load_records(conn, dirty)
        got = member_push.collect_push(conn, HLC0)
    assert [u.store_id for u in got] == ["s1", "s2"]
    for update in got:
        store = update.store_id
        want = MemberUpdate(
            store_id=store,
            version=base + 1,
            base_version=base,
            members=tuple(r.record for r in records if r.visible_in(store)),
            removed=tuple(r.record.member_id for r in records if not r.visible_in(store)),
            included_seq={"s1": {"k1": 0, "k2": 0}, "s2": {"k3": 0}}[store],
            hlc_ms=HLC0.wall_ms,
            hlc_c=HLC0.counter,
        )
        assert update.payload == encode(want)
        assert update.message() == want
