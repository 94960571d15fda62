"""The reader ports: what the kiosk app needs from a card reader, a QR scanner and a camera.

The kiosk depends on these protocols and values only; the nfcpy and OpenCV adapters
(``nfc_reader``, ``qr``, ``frames``) implement them, and tests drive the same adapters over
nfcpy's ``udp`` transport and a simulated MJPEG camera.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np

    from device.ports import Clock


class HealthState(StrEnum):
    """Reader state as reported in heartbeats."""

    STARTING = "starting"
    OK = "ok"
    UNAVAILABLE = "unavailable"
    STOPPED = "stopped"


class DeviceKind(StrEnum):
    """Which input a health value describes."""

    CARD_READER = "card_reader"
    CAMERA = "camera"


# What a member reads on screen when an input is down, and what to do instead (zh, en).
_UNAVAILABLE_MESSAGES: dict[DeviceKind, tuple[str, str]] = {
    DeviceKind.CARD_READER: (
        "读卡器暂时不可用，请出示会员码（二维码）。",
        "Card reader unavailable, use QR.",
    ),
    DeviceKind.CAMERA: (
        "扫码摄像头暂时不可用，请刷会员卡。",
        "QR scanner unavailable, please tap your card.",
    ),
}


@dataclass(frozen=True, slots=True)
class ReaderHealth:
    """One input's health: state, the cause for operators, and since when (UTC ms)."""

    device: DeviceKind
    state: HealthState
    detail: str = ""
    """Operator-facing cause, e.g. ``cannot open usb: no such device``."""
    since_ms: int = 0
    """Wall-clock time of the last state change."""
    failures: int = 0
    """Consecutive failed open/read attempts since the last good state."""

    @property
    def ok(self) -> bool:
        """True when the input works."""
        return self.state is HealthState.OK

    def message(self, lang: str) -> str:
        """What the member sees while this input is unavailable ("" when it works)."""
        if self.state is not HealthState.UNAVAILABLE:
            return ""
        zh, en = _UNAVAILABLE_MESSAGES[self.device]
        return en if lang == "en" else zh

    def to_dict(self) -> dict[str, Any]:
        """Plain form for heartbeats and the ops dashboard."""
        return {
            "device": self.device.value,
            "state": self.state.value,
            "detail": self.detail,
            "since_ms": self.since_ms,
            "failures": self.failures,
        }


@dataclass(frozen=True, slots=True)
class NdefRecord:
    """One NDEF record from a card, reduced to what the kiosk can use."""

    kind: str
    """``text``, ``uri`` or ``other``."""
    value: str
    """The text, the URI, or the record type name for other records."""
    lang: str = ""
    """Language code of a text record."""


@dataclass(frozen=True, slots=True)
class CardRead:
    """One tap: a card that arrived on the reader (held cards are reported once)."""

    uid: str
    """Upper-case hex: 4/7/10-byte ISO 14443-A UID, or a FeliCa IDm (16 hex digits)."""
    family: str
    """NFC Forum tag type: ``type1`` .. ``type4``."""
    product: str = ""
    """What nfcpy identified, e.g. ``NXP NTAG215`` or ``FeliCa Standard (RC-S915)``."""
    ndef: tuple[NdefRecord, ...] = ()
    read_at: float = 0.0
    """Monotonic seconds when the card was read."""

    def text_records(self) -> tuple[str, ...]:
        """The texts of all NDEF text records."""
        return tuple(r.value for r in self.ndef if r.kind == "text")


@dataclass(frozen=True, slots=True)
class QrRead:
    """One scan: a code that came into view (repeats while it stays in view are dropped)."""

    text: str
    read_at: float
    """Monotonic seconds of the frame the code was decoded from."""
    frame_index: int = 0


class CardReader(Protocol):
    """An NFC card reader that reports taps to a callback from its own thread."""

    def start(self, on_card: Callable[[CardRead], None]) -> None:
        """Start reading; ``on_card`` is called once per tap (never concurrently)."""
        ...

    def stop(self) -> None:
        """Stop reading and join the reader thread."""
        ...

    @property
    def health(self) -> ReaderHealth:
        """Current health (thread-safe, cheap)."""
        ...


class QrScanner(Protocol):
    """A camera-backed QR scanner that reports codes to a callback from its own thread."""

    def start(self, on_code: Callable[[QrRead], None]) -> None:
        """Start scanning; ``on_code`` is called once per code coming into view."""
        ...

    def stop(self) -> None:
        """Stop scanning and join the scanner thread."""
        ...

    @property
    def health(self) -> ReaderHealth:
        """Current health (thread-safe, cheap)."""
        ...


class FrameSource(Protocol):
    """Where camera frames come from (OpenCV capture on a Pi, a simulated camera in CI)."""

    description: str
    """Human-readable source, e.g. ``camera 0`` or an URL, for logs and health detail."""

    def open(self) -> None:
        """Open the source; raises ``FrameSourceError`` when it is not available."""
        ...

    def read(self) -> np.ndarray | None:
        """The next frame (BGR or grey), or None if none arrived in time.

        Raises ``FrameSourceError`` when the source is gone (unplugged, stream closed).
        """
        ...

    def close(self) -> None:
        """Release the source (idempotent)."""
        ...


class HealthTracker:
    """Thread-safe holder of one input's health; ``since_ms`` moves on state changes only."""

    def __init__(self, device: DeviceKind, clock: Clock) -> None:
        self.device = device
        self._clock = clock
        self._changed = threading.Condition()
        self._health = ReaderHealth(device, HealthState.STARTING, "", clock.wall_ms(), 0)

    @property
    def current(self) -> ReaderHealth:
        """The latest health value (a frozen value: reading needs no lock)."""
        return self._health

    def set(self, state: HealthState, detail: str = "") -> ReaderHealth:
        """Record ``state`` with its cause and wake anyone waiting for a change."""
        with self._changed:
            old = self._health
            failures = old.failures + 1 if state is HealthState.UNAVAILABLE else 0
            since = old.since_ms if old.state is state else self._clock.wall_ms()
            self._health = ReaderHealth(self.device, state, detail, since, failures)
            self._changed.notify_all()
            return self._health

    def wait_for(self, state: HealthState, timeout: float) -> bool:
        """Block until the state is ``state`` (True) or ``timeout`` seconds pass (False)."""
        with self._changed:
            return self._changed.wait_for(lambda: self._health.state is state, timeout)
