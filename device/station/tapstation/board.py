"""The station on a real board: ``machine`` and ``network`` wired to the state machine.

``run`` never returns. It starts the watchdog first (8 s: longer than any one step, whose
chip calls and kiosk request all have deadlines), waits for a valid config.json showing the
``config`` signal, builds the parts and loops: feed the watchdog, one ``Station.step``,
sleep 40 ms. One failing round is logged and counted; ten in a row reset the board.
"""

import sys
import time

import machine
import network

from tapstation import FIRMWARE_VERSION
from tapstation.buffer import TapBuffer
from tapstation.config import DEFAULT_PINS, Config, ConfigError, load
from tapstation.counter import Counter
from tapstation.kiosk import KioskClient
from tapstation.pn532 import Pn532
from tapstation.reader import Pn532Reader
from tapstation.signals import Signals
from tapstation.station import Station, log
from tapstation.wifi import Wifi

WDT_TIMEOUT_MS = 8000
POLL_MS = 40
CONFIG_RETRY_MS = 10000
FAILURES_BEFORE_RESET = 10


def _reset_cause() -> str:
    names = {
        machine.PWRON_RESET: "power_on",
        machine.HARD_RESET: "hard",
        machine.WDT_RESET: "watchdog",
        machine.DEEPSLEEP_RESET: "deepsleep",
        machine.SOFT_RESET: "soft",
    }
    return names.get(machine.reset_cause(), "unknown")


def _signals(pins: dict[str, int]) -> Signals:
    out = machine.Pin.OUT
    return Signals(
        machine.Pin(pins["red"], out),
        machine.Pin(pins["green"], out),
        machine.Pin(pins["blue"], out),
        machine.Pin(pins["buzzer"], out),
    )


def _wait_for_config(path: str, wdt: machine.WDT) -> Config:
    """The config, once valid; until then the ``config`` signal, re-reading every 10 s."""
    signals: Signals | None = None
    next_try = time.ticks_ms()
    while True:
        wdt.feed()
        now = time.ticks_ms()
        if time.ticks_diff(now, next_try) >= 0:
            try:
                return load(path)
            except ConfigError as exc:
                log("config_error", detail=exc)
                next_try = time.ticks_add(now, CONFIG_RETRY_MS)
        if signals is None:
            signals = _signals(DEFAULT_PINS)
        if not signals.busy:
            signals.play("config")
        signals.tick(now)
        time.sleep_ms(POLL_MS)


def build(config: Config, counter_path: str, reset_cause: str) -> Station:
    """The station from its config, on this board's UART, pins and Wi-Fi."""
    uart = machine.UART(
        config.nfc_uart,
        baudrate=config.nfc_baudrate,
        tx=config.nfc_tx,
        rx=config.nfc_rx,
        timeout=20,
        timeout_char=5,
        rxbuf=512,
    )
    counter = Counter(counter_path)
    counter.load()
    return Station(
        config.station_id,
        Pn532Reader(Pn532(uart)),
        KioskClient(config.kiosk_host, config.kiosk_port, config.key, config.request_timeout_ms),
        _signals(config.pins),
        counter,
        TapBuffer(config.buffer_size),
        wifi=Wifi(network.WLAN(network.STA_IF), config.wifi_ssid, config.wifi_password),
        reset_cause=reset_cause,
    )


def run(config_path: str = "config.json", counter_path: str = "counter.json") -> None:
    """Boot and run the station forever."""
    wdt = machine.WDT(timeout=WDT_TIMEOUT_MS)
    cause = _reset_cause()
    log("boot", fw=FIRMWARE_VERSION, reset_cause=cause)
    config = _wait_for_config(config_path, wdt)
    station = build(config, counter_path, cause)
    log("station", id=config.station_id, kiosk="{}:{}".format(config.kiosk_host, config.kiosk_port))
    station.start_reader(time.ticks_ms())
    failures = 0
    while True:
        wdt.feed()
        try:
            station.step(time.ticks_ms())
            failures = 0
        except Exception as exc:  # one bad round must not stop the door
            failures += 1
            station.errors["loop"] += 1
            log("step_failed", detail=repr(exc), in_a_row=failures)
            sys.print_exception(exc)
            if failures >= FAILURES_BEFORE_RESET:
                log("resetting", reason="{} failed rounds in a row".format(failures))
                machine.reset()
        time.sleep_ms(POLL_MS)
