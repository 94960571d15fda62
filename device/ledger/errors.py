"""Errors of the kiosk ledger. Each message says what an operator should do about it."""

from __future__ import annotations

from device.errors import DeviceError


class LedgerError(DeviceError):
    """Base of every kiosk ledger error."""

    code = "ledger_error"


class LedgerCorrupt(LedgerError):
    """The ledger file is not a healthy SQLite database; the kiosk must not start on it.

    The file is never reset or overwritten: it may hold taps the coordinator has not seen.
    """

    code = "ledger_corrupt"

    def __init__(self, path: str, detail: str):
        self.path = path
        self.detail = detail
        super().__init__(
            f"The kiosk ledger {path} is damaged ({detail}). The kiosk refuses to start on it "
            "and has left the file untouched. Restore the ledger from a backup, or re-provision "
            "this kiosk (move the damaged file aside so its unsent events can be recovered; "
            "do not delete it)."
        )


class LedgerSchemaTooNew(LedgerError):
    """The ledger was written by newer kiosk software than this one."""

    code = "ledger_schema_too_new"

    def __init__(self, path: str, found: int, known: int):
        self.found = found
        self.known = known
        super().__init__(
            f"The kiosk ledger {path} has schema version {found}, but this software only knows "
            f"versions up to {known}. Install the kiosk software that wrote it (or newer); "
            "do not delete the file."
        )


class LedgerIdentityMismatch(LedgerError):
    """The ledger file belongs to another kiosk (or another store)."""

    code = "ledger_identity_mismatch"

    def __init__(self, path: str, found: tuple[str, str], wanted: tuple[str, str]):
        self.found = found
        self.wanted = wanted
        super().__init__(
            f"The kiosk ledger {path} belongs to kiosk {found[0]!r} in store {found[1]!r}, "
            f"not to kiosk {wanted[0]!r} in store {wanted[1]!r}. Point this kiosk at its own "
            "ledger file, or re-provision it; the file was left untouched."
        )


class LedgerStorageFull(LedgerError):
    """The disk is full: the change was rolled back and nothing of it was written."""

    code = "ledger_storage_full"

    def __init__(self, what: str):
        super().__init__(
            f"The kiosk's storage is full; {what} was not recorded (nothing half-written). "
            "Free disk space on the kiosk; the ledger works again as soon as there is room."
        )


class LedgerClosed(LedgerError):
    """The ledger was used after :meth:`KioskLedger.close`."""

    code = "ledger_closed"
