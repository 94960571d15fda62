"""A bare kiosk-ledger process for crash tests: taps in on stdin, one result line out.

    python -m device.ledger.crashprobe LEDGER.db --kiosk-id K --store-id S

Each stdin line is ``TAG COMMAND ARGS...``:

    TAG card UID [CLASS_SESSION_ID]
    TAG qr MEMBER_ID NONCE EXPIRES_MS
    TAG redeem MEMBER_ID REWARD_ID
    TAG ack SEQ

After the request has been committed, one JSON line is printed and flushed:
``{"tag": ..., "outcome": ..., "reason": ..., "events": [[seq, event_id, kind], ...]}``.
A line on stdout therefore proves the request is durable; the test kills the process with
SIGKILL at random moments and checks the journal against what was printed. The first line is
``{"ready": true, "last_seq": N}``. Uses the real clock.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from device.ledger.kiosk_ledger import KioskLedger
from device.ledger.outcomes import TapOutcome, VerifiedQr
from device.ports import SystemClock


def _line(tag: str, outcome: TapOutcome) -> str:
    return json.dumps(
        {
            "tag": tag,
            "outcome": outcome.decision.outcome,
            "reason": outcome.reason.value if outcome.reason else None,
            "events": [[e.seq, e.event_id, e.kind] for e in outcome.events],
        }
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the probe until stdin closes."""
    parser = argparse.ArgumentParser(prog="python -m device.ledger.crashprobe")
    parser.add_argument("path")
    parser.add_argument("--kiosk-id", required=True)
    parser.add_argument("--store-id", required=True)
    parser.add_argument("--online", action="store_true", help="report the link as connected")
    args = parser.parse_args(argv)
    ledger = KioskLedger.open(
        args.path, kiosk_id=args.kiosk_id, store_id=args.store_id, clock=SystemClock()
    )
    ledger.set_online(args.online)
    out = sys.stdout
    out.write(json.dumps({"ready": True, "last_seq": ledger.outbox_stats().last_seq}) + "\n")
    out.flush()
    for raw in sys.stdin:
        parts = raw.split()
        if len(parts) < 2:
            continue
        tag, command, rest = parts[0], parts[1], parts[2:]
        if command == "card":
            outcome = ledger.tap_card(rest[0], rest[1] if len(rest) > 1 else None)
        elif command == "qr":
            outcome = ledger.tap_qr(VerifiedQr(rest[0], rest[1], "k1", int(rest[2])))
        elif command == "redeem":
            outcome = ledger.redeem_points(rest[0], rest[1])
        elif command == "ack":
            ledger.mark_acked(int(rest[0]))
            out.write(json.dumps({"tag": tag, "acked": int(rest[0])}) + "\n")
            out.flush()
            continue
        else:
            out.write(json.dumps({"tag": tag, "error": f"unknown command {command}"}) + "\n")
            out.flush()
            continue
        out.write(_line(tag, outcome) + "\n")
        out.flush()
    ledger.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
