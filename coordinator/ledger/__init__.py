"""The central ledger: MQTT ingest, per-kiosk sequencing, member folds, HQ facts, conflicts
(told by one narrator) and their resolution, coupon claims, the deny-list and central
housekeeping."""
