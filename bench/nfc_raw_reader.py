"""The tap baseline: nfcpy reading cards with nothing else around it, in its own process.

    python -m bench.nfc_raw_reader udp:127.0.0.1:PORT

The minimal nfcpy loop that reads a card the way the kiosk's reader does (same targets,
same calls): ``sense`` 106A, ``nfc.tag.activate``, the UID and the NDEF records, then
presence checks until the card leaves. Prints ``READY`` once open and
``READ <uid> <t>`` per card (``t``: ``time.monotonic()``, system-wide on Linux) as soon as
the card is read. Runs until terminated.
"""

from __future__ import annotations

import sys
import time


def main() -> int:
    """Read cards until killed."""
    import nfc
    import nfc.clf
    import nfc.tag

    clf = nfc.ContactlessFrontend()
    if not clf.open(sys.argv[1]):
        print(f"cannot open {sys.argv[1]}", flush=True)
        return 1
    print("READY", flush=True)
    target = nfc.clf.RemoteTarget("106A")
    while True:
        found = clf.sense(target, iterations=1)
        if found is None:
            time.sleep(0.05)  # the kiosk reader's idle pause between poll rounds
            continue
        try:
            tag = nfc.tag.activate(clf, found)
            if tag is None:
                continue
            uid = bytes(tag.identifier).hex().upper()
            message = tag.ndef
            records = list(message.records) if message is not None else []
            print(f"READ {uid} {time.monotonic():.6f} {len(records)}", flush=True)
            while tag.is_present:
                time.sleep(0.1)  # the kiosk reader's presence-check interval
        except (nfc.tag.TagCommandError, nfc.clf.CommunicationError):
            continue


if __name__ == "__main__":
    sys.exit(main())
