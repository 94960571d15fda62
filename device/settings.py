"""The kiosk's settings: one typed model, loaded from a TOML or JSON file plus the environment.

Precedence, highest first (the same rule as the coordinator's, :mod:`shared.settings_sources`):
values given in code, then environment variables ``TAPFLEET_KIOSK_<FIELD>`` (nested fields
with ``__``, e.g. ``TAPFLEET_KIOSK_LINK__HOST``), then the config file, then the defaults
below. Unknown keys are refused, so a typo fails loudly at start-up. Secrets (the broker
password, the staff PIN hash) are ``SecretStr``: ``repr(settings)`` and logs never show them.

A minimal ``kiosk.toml``::

    kiosk_id = "k-s1-1"
    store_id = "s1"
    ledger_path = "/var/lib/tapfleet/ledger.sqlite"

    [nfc]
    path = "usb"

    [link]
    host = "mqtt.example.internal"

    [staff]
    pin_hash = "$scrypt$ln=14,r=8,p=5$...$..."   # tapfleet kiosk --hash-pin
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import SettingsConfigDict
from pydantic_settings import SettingsError as SourceError

from device.errors import DeviceError
from device.link.settings import LinkSettings
from device.staff_pin import DEV_PIN, DEV_PIN_HASH, check_pin_hash, verify_pin
from device.station_gate.settings import StationGateSettings
from shared.model import Id, Uid
from shared.settings_sources import (
    ConfigFileError,
    LayeredSettings,
    describe_problems,
)
from shared.settings_sources import read_config_file as _read_file

ENV_PREFIX = "TAPFLEET_KIOSK_"


class SettingsError(DeviceError):
    """The kiosk's configuration is missing, unreadable or invalid."""

    code = "settings_error"


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NfcSettings(_Section):
    """The NFC card reader (nfcpy)."""

    path: str | None = Field(
        "usb",
        description="nfcpy device path: 'usb' (first USB reader), 'usb:054c:06c1', "
        "'tty:USB0:pn532', 'tty:/dev/serial0:pn532' (a PN532 on a serial device file), or "
        "'udp:127.0.0.1:PORT' for a simulated card. Empty or null "
        "disables the card reader (QR only).",
    )
    targets: tuple[Literal["106A", "106B", "212F", "424F"], ...] = Field(
        ("106A", "212F"),
        min_length=1,
        description="Technologies to poll, in order: 106A for Type 2/4 cards (NTAG, "
        "Ultralight), 212F for FeliCa. Every extra type slows each poll round.",
    )

    @field_validator("path")
    @classmethod
    def _empty_is_none(cls, value: str | None) -> str | None:
        return value or None


class CameraSettings(_Section):
    """The camera that scans member QR codes."""

    source: str | None = Field(
        None,
        description="OpenCV capture source: a camera index ('0'), a device path "
        "('/dev/video0') or a stream URL. Null disables QR scanning (cards only).",
    )
    decoder: Literal["zxing", "pyzbar"] = Field(
        "zxing", description="QR decoder backend: zxing-cpp (default, faster) or pyzbar."
    )


class UiSettings(_Section):
    """The local web UI that Chromium shows full-screen on the touchscreen."""

    host: str = Field(
        "127.0.0.1",
        min_length=1,
        description="Address the UI listens on. Keep 127.0.0.1 on a kiosk: the screen is "
        "the only client, and the page's session tokens must not leave the device.",
    )
    port: int = Field(8080, ge=0, le=65535, description="UI port; 0 picks a free port.")
    default_lang: Literal["zh", "en"] = Field(
        "zh", description="Language of the idle screen (a tap switches to the member's)."
    )
    result_display_s: float = Field(
        6.0, gt=0, le=120, description="How long a tap result stays before the idle screen."
    )
    member_session_s: float = Field(
        45.0,
        gt=0,
        le=600,
        description="After a tap, how long the member may redeem points or coupons on screen.",
    )


class StaffSettings(_Section):
    """Staff mode: PIN or staff card, redemptions on behalf, undo, roster, sync status."""

    pin_hash: SecretStr = Field(
        SecretStr(DEV_PIN_HASH),
        description="scrypt hash of the staff PIN (`tapfleet kiosk --hash-pin`; an older "
        "pbkdf2_sha256 hash still works and is reported as outdated). The default is the "
        f"development PIN {DEV_PIN} and is refused outside dev mode. A secret: a 4-digit PIN "
        "is quick to find from its hash.",
    )
    staff_id: Id = Field(
        "store-staff", description="Staff id recorded on actions taken after a PIN login."
    )
    cards: tuple[Uid, ...] = Field(
        (),
        description="UIDs (upper-case hex) of staff cards; tapping one opens staff mode "
        "and the staff id recorded is 'card-<UID>'.",
    )
    session_idle_s: float = Field(
        120.0, gt=0, le=3600, description="Staff mode closes after this long without activity."
    )
    max_pin_attempts: int = Field(
        5, ge=1, le=100, description="Wrong PINs in a row before the PIN pad locks."
    )
    lockout_s: float = Field(60.0, ge=0, le=3600, description="How long the PIN pad stays locked.")

    @field_validator("pin_hash")
    @classmethod
    def _well_formed(cls, value: SecretStr) -> SecretStr:
        check_pin_hash(value.get_secret_value())  # PinHashError (a ValueError) says what to do
        return value

    @field_validator("cards", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return tuple(v.upper().replace(":", "") if isinstance(v, str) else v for v in value)
        return value


class KioskSettings(LayeredSettings):
    """Everything one kiosk needs to run. Only kiosk_id, store_id and ledger_path are required."""

    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        case_sensitive=False,
    )

    kiosk_id: Id = Field(description="This kiosk's id; must match its MQTT user and ACL.")
    store_id: Id = Field(description="The store this kiosk stands in.")
    ledger_path: Path = Field(
        description="The kiosk's SQLite ledger (journal, outbox, cached members). Created on "
        "first start; never delete it: it may hold taps the coordinator has not seen."
    )
    dev_mode: bool = Field(
        False,
        description="Development mode: allows the default staff PIN. Never on a real kiosk.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Log level of `tapfleet kiosk`."
    )
    nfc: NfcSettings = Field(default_factory=NfcSettings, description="NFC card reader.")
    camera: CameraSettings = Field(
        default_factory=CameraSettings, description="QR camera (off unless a source is set)."
    )
    link: LinkSettings = Field(
        default_factory=LinkSettings, description="MQTT link to the coordinator."
    )
    ui: UiSettings = Field(default_factory=UiSettings, description="Local touchscreen web UI.")
    staff: StaffSettings = Field(default_factory=StaffSettings, description="Staff mode.")
    stations: StationGateSettings = Field(
        default_factory=StationGateSettings,
        description="Door stations (MicroPython readers at classroom doors) this kiosk accepts.",
    )

    @model_validator(mode="after")
    def _no_default_secrets(self) -> Self:
        pin_hash = self.staff.pin_hash.get_secret_value()
        if not self.dev_mode and (pin_hash == DEV_PIN_HASH or verify_pin(DEV_PIN, pin_hash)):
            raise ValueError(
                f"staff.pin_hash is the development PIN {DEV_PIN}; set a real one "
                "(generate it with `tapfleet kiosk --hash-pin`) or set dev_mode = true "
                "on a development machine"
            )
        return self


def read_config_file(path: Path) -> dict[str, Any]:
    """The raw mapping in a ``.toml`` or ``.json`` config file; SettingsError if unreadable."""
    try:
        return _read_file(path)
    except ConfigFileError as exc:
        raise SettingsError(str(exc)) from exc


def load_settings(path: Path | None, overrides: Mapping[str, Any] | None = None) -> KioskSettings:
    """Settings from ``overrides``, the environment, ``path`` (TOML, or JSON by suffix).

    Relative ``ledger_path`` values in the file are resolved against the file's folder.
    Raises SettingsError with every problem on one line, each naming its field.
    """
    data: dict[str, Any] = read_config_file(path) if path is not None else {}
    if path is not None and isinstance(data.get("ledger_path"), str):
        ledger = Path(data["ledger_path"]).expanduser()
        if not ledger.is_absolute():
            data["ledger_path"] = str(path.parent / ledger)
    where = f" in {path}" if path is not None else ""
    try:
        return KioskSettings.load(data, overrides)
    except ValidationError as exc:
        problems = describe_problems(exc, ENV_PREFIX)
        raise SettingsError(f"invalid kiosk settings{where}: {problems}") from exc
    except SourceError as exc:
        raise SettingsError(f"invalid kiosk settings from the environment: {exc}") from exc
