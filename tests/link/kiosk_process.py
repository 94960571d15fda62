"""A kiosk link in its own process, so a test can kill it with SIGKILL.

Usage: python -m tests.link.kiosk_process PORT KIOSK_ID STORE_ID LEDGER_FOLDER
Prints ``connected`` once the link has its session, then runs until killed.
"""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from device.link import KioskLink, LinkSettings
from tests.link.ledgers import RecordingLedger


def main() -> None:
    """Run one link until the process is killed."""
    port, kiosk_id, store_id, folder = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    settings = LinkSettings(host="127.0.0.1", port=port, keepalive_s=5, reconnect_min_s=0.05)
    link = KioskLink(settings, RecordingLedger.open(Path(folder), kiosk_id, store_id))
    link.start()
    if link.wait_for(lambda s: s.connected, 10) is None:
        print("no connection", flush=True)
        sys.exit(1)
    print("connected", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
