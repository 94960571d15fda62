"""``config.json`` on the board: Wi-Fi, the kiosk's address, this station's id and key, pins.

Written by ``tapfleet station enroll`` on the kiosk (which also enrols the key there) and
copied with ``mpremote cp station-config.json :config.json``. Every problem is reported with
the field's name and what to put there; the station shows the ``config`` signal until the
file is fixed. Example::

    {"station_id": "st-studio-a", "key": "<64 hex digits>",
     "kiosk": {"host": "192.168.1.20", "port": 8470},
     "wifi": {"ssid": "store-staff", "password": "..."},
     "nfc": {"uart": 1, "tx": 17, "rx": 16, "baudrate": 115200},
     "pins": {"red": 25, "green": 26, "blue": 27, "buzzer": 14},
     "buffer_size": 200, "request_timeout_ms": 1500}
"""

import binascii
import json

DEFAULT_PINS = {"red": 25, "green": 26, "blue": 27, "buzzer": 14}
DEFAULT_NFC = {"uart": 1, "tx": 17, "rx": 16, "baudrate": 115200}


class ConfigError(Exception):
    """config.json is missing or wrong; the message names the field and the fix."""


class Config:
    """The validated settings."""

    def __init__(self, data: dict[str, object]) -> None:
        self.station_id = _id(data.get("station_id"))
        self.key = _key(data.get("key"))
        kiosk = _section(data, "kiosk")
        self.kiosk_host = _ipv4(kiosk.get("host"))
        self.kiosk_port = _int(kiosk.get("port", 8470), "kiosk.port", 1, 65535)
        wifi = _section(data, "wifi")
        self.wifi_ssid = _text(wifi.get("ssid"), "wifi.ssid", 1, 32)
        self.wifi_password = _text(wifi.get("password", ""), "wifi.password", 0, 64)
        nfc: dict[str, object] = dict(DEFAULT_NFC)
        nfc.update(_section(data, "nfc", required=False))
        self.nfc_uart = _int(nfc["uart"], "nfc.uart", 0, 2)
        self.nfc_tx = _int(nfc["tx"], "nfc.tx", 0, 48)
        self.nfc_rx = _int(nfc["rx"], "nfc.rx", 0, 48)
        self.nfc_baudrate = _int(nfc["baudrate"], "nfc.baudrate", 9600, 921600)
        pins: dict[str, object] = dict(DEFAULT_PINS)
        pins.update(_section(data, "pins", required=False))
        self.pins = {name: _int(pins[name], "pins." + name, 0, 48) for name in DEFAULT_PINS}
        self.buffer_size = _int(data.get("buffer_size", 200), "buffer_size", 1, 2000)
        self.request_timeout_ms = _int(
            data.get("request_timeout_ms", 1500), "request_timeout_ms", 200, 5000
        )


def load(path: str = "config.json") -> Config:
    """Read and check ``path``; raises ConfigError saying what to fix."""
    try:
        with open(path) as fh:
            data = json.load(fh)
    except OSError:
        raise ConfigError(
            "{} not found: copy it to the board (mpremote cp station-config.json :{})".format(
                path, path
            )
        )
    except ValueError as exc:
        raise ConfigError("{} is not valid JSON ({}): fix it and copy it again".format(path, exc))
    if not isinstance(data, dict):
        raise ConfigError("{} must hold a JSON object".format(path))
    return Config(data)


def _section(data: dict[str, object], name: str, required: bool = True) -> dict[str, object]:
    value = data.get(name)
    if value is None and not required:
        return {}
    if not isinstance(value, dict):
        raise ConfigError("{} must be an object, e.g. see docs/station.md".format(name))
    return value


def _id(value: object) -> str:
    ok = isinstance(value, str) and 1 <= len(value) <= 64
    if ok and isinstance(value, str):
        for ch in value:
            if not (ch.isalpha() or ch.isdigit() or ch in "_.:-"):
                ok = False
    if not ok or not isinstance(value, str):
        raise ConfigError("station_id must be 1-64 letters, digits or _.:- (as enrolled)")
    return value


def _key(value: object) -> bytes:
    if not isinstance(value, str) or len(value) != 64:
        raise ConfigError("key must be the 64 hex digits `tapfleet station enroll` printed")
    try:
        return binascii.unhexlify(value)
    except ValueError:
        raise ConfigError("key must be hex digits only (0-9, a-f)")


def _ipv4(value: object) -> str:
    parts = value.split(".") if isinstance(value, str) else []
    if len(parts) != 4 or not all(p.isdigit() and 0 <= int(p) <= 255 for p in parts):
        raise ConfigError(
            "kiosk.host must be the kiosk's IPv4 address, e.g. 192.168.1.20 "
            "(no names: a DNS lookup can block the station)"
        )
    return str(value)


def _int(value: object, name: str, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError("{} must be a whole number from {} to {}".format(name, low, high))
    return value


def _text(value: object, name: str, low: int, high: int) -> str:
    if not isinstance(value, str) or not low <= len(value) <= high:
        raise ConfigError("{} must be text of {} to {} characters".format(name, low, high))
    return value
