"""The Tapfleet coordinator: one authoritative ledger for every kiosk of every store.

Wiring happens in one place: ``coordinator.app.create_app(settings)`` builds a
:class:`coordinator.runtime.Coordinator` and the FastAPI app; the app's lifespan migrates
the database, bootstraps it and starts the MQTT link and worker threads. Nothing here
connects, reads the environment or opens a database at import time.

Where things are:

* ``ingest``        handler registry, bad-message isolation, the ingest worker
* ``streams``       exactly-once, in-order application of each kiosk's events
* ``member_fold``   per-member folded state (incremental or recomputed)
* ``conflicts`` / ``explain`` / ``resolution``   conflicts, their words, their adjustments
* ``hq_events``     the coordinator's own facts (source ``hq``)
* ``member_push`` / ``pusher`` / ``deny_list`` / ``rule_bundles``   versioned downstream
* ``claims``, ``liveness``, ``housekeeping``, ``qr_keys``, ``auth``, ``api/``
* ``schema`` + ``migrations/`` (Alembic), ``db``, ``settings``, ``mqtt_link``, ``cli``
"""
