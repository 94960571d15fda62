"""The kiosk's MQTT link to the coordinator (paho-mqtt 2.x, MQTT v5).

Upstream it drains the ledger's outbox in ordered, windowed batches, sends heartbeats,
sync requests and coupon claims; downstream it applies acks, member deltas, rule bundles
and deny-list updates through :class:`device.ports.OutboxPort`.

Wiring (done once, in the kiosk app)::

    link = KioskLink(settings.link, ledger, health=app.health, disk_path=ledger_dir)
    link.start()
    ...                         # after every committed tap:
    link.notify_new_events()
    outcome = link.claim(member_id, coupon_id)   # online-only coupons; None = no answer
    link.stop()
"""

from device.link.client import KioskLink, LinkLedger
from device.link.errors import DownstreamRefused, LinkError
from device.link.heartbeat import KioskHealth
from device.link.settings import LinkSettings
from device.link.state import COUNTERS, LinkState

__all__ = [
    "COUNTERS",
    "DownstreamRefused",
    "KioskHealth",
    "KioskLink",
    "LinkError",
    "LinkLedger",
    "LinkSettings",
    "LinkState",
]
