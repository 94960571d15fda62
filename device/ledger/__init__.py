"""The kiosk's durable ledger: member cache, rules, deny-list and the event journal/outbox.

``KioskLedger.open(path, kiosk_id=..., store_id=..., clock=...)`` is the way in; nothing here
touches the disk at import time.
"""

from device.ledger.downstream import BadDownstreamMessage
from device.ledger.errors import (
    LedgerClosed,
    LedgerCorrupt,
    LedgerError,
    LedgerIdentityMismatch,
    LedgerSchemaTooNew,
    LedgerStorageFull,
)
from device.ledger.kiosk_ledger import KioskLedger
from device.ledger.outcomes import (
    ClassRoster,
    MemberSummary,
    QrClaims,
    RecentEvent,
    RosterEntry,
    StationTapOutcome,
    SyncStatus,
    TapOutcome,
    VerifiedQr,
)
from device.ledger.stations import StationVerdict

__all__ = [
    "BadDownstreamMessage",
    "ClassRoster",
    "KioskLedger",
    "LedgerClosed",
    "LedgerCorrupt",
    "LedgerError",
    "LedgerIdentityMismatch",
    "LedgerSchemaTooNew",
    "LedgerStorageFull",
    "MemberSummary",
    "QrClaims",
    "RecentEvent",
    "RosterEntry",
    "StationTapOutcome",
    "StationVerdict",
    "SyncStatus",
    "TapOutcome",
    "VerifiedQr",
]
