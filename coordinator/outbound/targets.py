"""Which URLs a webhook may be sent to (the SSRF guard).

A webhook URL is typed in by a chain's staff and fetched by the coordinator, inside the
chain's network: without a guard it reaches the database, the broker or a cloud metadata
service. Only ``http``/``https`` URLs are accepted, and outside dev mode (or an explicit
setting) every address the host name resolves to must be public. The check runs when an
endpoint is saved (a clear 422) and again before each attempt (DNS may change).
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit


class TargetRefused(ValueError):
    """A webhook URL the coordinator will not call; ``code`` is machine-readable."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


def _blocked(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def check_url_shape(url: str) -> tuple[str, int]:
    """The URL's host and port when it is an absolute http(s) URL without credentials."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetRefused("webhook_url_invalid", f"not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https"):
        raise TargetRefused(
            "webhook_url_scheme", "a webhook URL must start with http:// or https://"
        )
    if not parts.hostname:
        raise TargetRefused("webhook_url_invalid", "a webhook URL needs a host name")
    if parts.username or parts.password:
        raise TargetRefused("webhook_url_invalid", "put no user name or password in the URL")
    return parts.hostname, port or (443 if parts.scheme == "https" else 80)


def check_target(url: str, *, allow_private: bool) -> None:
    """Raise :class:`TargetRefused` unless the coordinator may call ``url``."""
    host, port = check_url_shape(url)
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError) as exc:
        raise TargetRefused("webhook_url_unresolved", f"cannot resolve {host!r}: {exc}") from exc
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if _blocked(address):
            raise TargetRefused(
                "webhook_url_private",
                f"{host!r} resolves to {address}, a private or local address: webhooks go "
                "to public addresses only (dev mode or webhooks.allow_private_targets "
                "lifts this)",
            )
