"""The coordinator's service layer: one module per concern, under every caller.

API routes, dashboard pages and the CLI call these functions; they never call each other.
A service function takes the running :class:`~coordinator.runtime.Coordinator`, the
authenticated :class:`~coordinator.security.auth.Principal` and typed inputs, checks what the
caller may do, does the work in one transaction (recording ledger facts through the HQ
recorder, auditing every change), wakes the pushes, and returns a typed result (the
response model the API declares). It raises :class:`~coordinator.errors.ApiError` for
anything the caller can fix.

Business rules are not written here: they live in ``shared/`` (the same functions the kiosk
calls) and in the ledger subpackage; a service composes them.
"""
