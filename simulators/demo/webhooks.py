"""The demo's webhook receiver: what the chain's SMS / WeChat gateway would be sent.

Tapfleet sends no SMS itself; it signs a webhook for the chain's own gateway. The demo
registers a chain-wide endpoint pointing at a receiver in the demo process, runs the
automations once, and prints each message it gets with the verdict on its signature (every
one is checked with the endpoint's secret, over the raw body). A self-access code (a member
getting their phone card back from a store's sign-up poster) is printed as the front desk's.
"""

from __future__ import annotations

from typing import Any

from simulators.demo.api import CoordinatorClient
from simulators.demo.console import Console
from simulators.webhook_receiver import Received, WebhookReceiver

SELF_ACCESS = "notification.self_access_code"
"""A member proving their phone number on a store's sign-up page: the one-time code the
chain's SMS gateway would text. With no gateway, the demo's "front desk" prints it."""


def who(message: Received) -> str:
    """The console column: the front desk for self-access codes, the gateway otherwise."""
    return "front desk" if message.event_type == SELF_ACCESS else "webhook"


def masked_phone(phone: str) -> str:
    """A phone number with all but its last 4 digits hidden (for the console)."""
    return "*" * max(len(phone) - 4, 0) + phone[-4:]


def describe(message: Received) -> str:
    """One line: what the gateway would send, to whom, and whether the signature held."""
    data: dict[str, Any] = message.data
    payload = data.get("payload") or {}
    if message.event_type == SELF_ACCESS:
        verdict = "signature ok" if message.valid else f"SIGNATURE REFUSED ({message.problem})"
        phone = masked_phone(str(payload.get("phone", "")))
        return (
            f"one-time self-access code {payload.get('code', '?')} for phone {phone} "
            f"(valid 10 min; the member types it on the sign-up page) [{verdict}]"
        )
    text = payload.get("text_zh") or payload.get("text_en") or ""
    verdict = "signature ok" if message.valid else f"SIGNATURE REFUSED ({message.problem})"
    member = data.get("member_id") or "?"
    return f"{message.event_type} -> {member}: {text} [{verdict}, {message.message_id}]"


def start_receiver(client: CoordinatorClient, console: Console) -> WebhookReceiver:
    """Start the receiver, register it as a chain-wide endpoint, run the automations once."""
    receiver = WebhookReceiver(on_message=lambda m: console.event(who(m), describe(m)))
    receiver.start()
    created = client.post(
        "/api/v1/webhooks/endpoints",
        {
            "url": receiver.url,
            "event_types": ["notification.*"],
            "description": "demo gateway (prints what it would send)",
        },
    )
    receiver.secrets = [created["secret"]]
    console.step(f"webhook receiver on {receiver.url} (verifies every signature)")
    ran = client.post("/api/v1/automations/run")
    console.step(
        f"automations ran once: {ran['runs']} occasion(s) "
        f"({', '.join(f'{k} {v}' for k, v in sorted(ran['by_automation'].items())) or 'none'})"
    )
    return receiver
