"""Phone-signed codes: the kiosk's cost to verify one, beside a coordinator-signed token.

Tapfleet: a ``TF2`` code signed by a member's phone, checked as the kiosk's QR path does
(``device/tap_service.py``): ``phonecode.claimed_member``, the member's device keys read
from the kiosk's SQLite ledger (``KioskLedger.member_devices``: one cached member record
parsed), then ``phonecode.verify_code`` (Ed25519). The ledger is seeded with ``members``
members, each with a 30-lot ledger and 2 devices.

Baseline: a ``TF1`` token signed by the coordinator, checked with ``qrtoken.verify_token``
against the rule bundle's keys held in memory (what the kiosk did before, and still does for
browsers without Ed25519). Both sides also report the QR symbol each text needs (segno,
error level L): the phone code must not make the symbol bigger.

Rounds alternate baseline and Tapfleet passes so both see the same machine noise.
"""

from __future__ import annotations

import base64
import tempfile
import time
from pathlib import Path

from bench.common import Result, emit, parse_args, progress

NAME = "phone_code"


def _ledger(path: Path, members: int, now_ms: int) -> tuple[object, dict[str, bytes]]:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from device.ledger import KioskLedger
    from device.ports import SystemClock
    from shared.model import DeviceKey, MemberLedger, MemberRecord, PointsLot, RuleBundle
    from shared.protocol import MemberUpdate, RuleBundleMessage

    ledger = KioskLedger.open(path, kiosk_id="k1", store_id="s1", clock=SystemClock())
    ledger.apply_rule_bundle(RuleBundleMessage(bundle=RuleBundle(version=1)))
    privates: dict[str, bytes] = {}
    records = []
    lots = tuple(
        PointsLot(
            lot_id=f"e{i}",
            earned_ms=now_ms - i * 86_400_000,
            expires_ms=now_ms + 300 * 86_400_000,
            amount=10,
            remaining=10,
        )
        for i in range(30)
    )
    for n in range(members):
        member_id = f"M-{n:05d}"
        devices = []
        for d in range(2):
            private = Ed25519PrivateKey.generate()
            raw = private.public_key().public_bytes_raw()
            device_id = f"d{n:05d}{d}"
            privates[device_id] = private.private_bytes_raw()
            public = base64.urlsafe_b64encode(raw).decode().rstrip("=")
            devices.append(DeviceKey(device_id=device_id, public_key=public))
        records.append(
            MemberRecord(
                member_id=member_id,
                display_name="A*",
                devices=tuple(devices),
                ledger=MemberLedger(points_lots=lots),
            )
        )
    for start in range(0, len(records), 500):
        chunk = tuple(records[start : start + 500])
        version = start // 500 + 1
        ledger.apply_member_update(
            MemberUpdate(store_id="s1", version=version, base_version=version - 1, members=chunk)
        )
    return ledger, privates


def run(members: int, rounds: int) -> Result:
    """Verify ``rounds`` codes of each kind; codes per second, and the QR symbol sizes."""
    import segno

    from shared import phonecode, qrtoken

    now = time.time_ns() // 1_000_000
    private, key = qrtoken.generate_keypair("k2026a")
    with tempfile.TemporaryDirectory() as tmp:
        progress(NAME, f"seeding a kiosk ledger with {members} members")
        ledger, privates = _ledger(Path(tmp) / "ledger.sqlite", members, now)
        member_devices = ledger.member_devices  # type: ignore[attr-defined]
        ids = sorted(privates)
        tf1 = [
            qrtoken.issue_token(private, "k2026a", f"M-{i % members:05d}", now, 60)
            for i in range(rounds)
        ]
        tf2 = []
        for i in range(rounds):
            device_id = ids[(i * 7) % len(ids)]
            member_id = f"M-{int(device_id[1:6]):05d}"
            tf2.append(phonecode.sign_code(privates[device_id], device_id, member_id, now))
        base_s = phone_s = 0.0
        progress(NAME, f"{rounds} codes of each kind, alternating")
        for part in range(2):
            lo, hi = (0, rounds // 2) if part == 0 else (rounds // 2, rounds)
            t0 = time.perf_counter()
            for text in tf1[lo:hi]:
                qrtoken.verify_token(text, (key,), now, 30)
            t1 = time.perf_counter()
            for text in tf2[lo:hi]:
                devices = member_devices(phonecode.claimed_member(text))
                phonecode.verify_code(text, devices, now, 30)
            t2 = time.perf_counter()
            base_s += t1 - t0
            phone_s += t2 - t1
        ledger.close()  # type: ignore[attr-defined]
    v1 = segno.make(tf1[0], error="l").designator
    v2 = segno.make(tf2[0], error="l").designator
    base_rate = rounds / base_s
    phone_rate = rounds / phone_s
    ratio = phone_rate / base_rate
    return Result(
        name=NAME,
        tapfleet=(
            f"TF2 phone-signed: {phone_rate:.0f} codes/s ({1000 / phone_rate:.2f} ms each, "
            f"record read from a {members}-member SQLite ledger + Ed25519), "
            f"{len(tf2[0])} chars, QR {v2}"
        ),
        baseline=(
            f"TF1 coordinator-signed: {base_rate:.0f} codes/s ({1000 / base_rate:.2f} ms "
            f"each, key in memory), {len(tf1[0])} chars, QR {v1}"
        ),
        ratio=ratio,
        target="a phone code costs < 5 ms on the kiosk (>= 200 codes/s), QR no larger",
        passed=phone_rate >= 200 and int(v2.split("-")[0]) <= int(v1.split("-")[0]),
    )


def main() -> None:
    """Entry point."""
    args = parse_args(__doc__ or NAME)
    emit(run(members=200 if args.quick else 5000, rounds=200 if args.quick else 2000))


if __name__ == "__main__":
    main()
