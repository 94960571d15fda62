"""The demo's webhook receiver: what the chain's SMS / WeChat gateway would be sent.

Tapfleet sends no SMS itself; it signs a webhook for the chain's own gateway. The demo
registers a chain-wide endpoint pointing at a receiver in the demo process, runs the
automations once, and prints each message it gets with the verdict on its signature (every
one is checked with the endpoint's secret, over the raw body).
"""

from __future__ import annotations

from typing import Any

from simulators.demo.api import CoordinatorClient
from simulators.demo.console import Console
from simulators.webhook_receiver import Received, WebhookReceiver


def describe(message: Received) -> str:
    """One line: what the gateway would send, to whom, and whether the signature held."""
    data: dict[str, Any] = message.data
    payload = data.get("payload") or {}
    text = payload.get("text_zh") or payload.get("text_en") or ""
    verdict = "signature ok" if message.valid else f"SIGNATURE REFUSED ({message.problem})"
    member = data.get("member_id") or "?"
    return f"{message.event_type} -> {member}: {text} [{verdict}, {message.message_id}]"


def start_receiver(client: CoordinatorClient, console: Console) -> WebhookReceiver:
    """Start the receiver, register it as a chain-wide endpoint, run the automations once."""
    receiver = WebhookReceiver(on_message=lambda m: console.event("webhook", describe(m)))
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
