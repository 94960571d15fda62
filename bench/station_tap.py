"""Door station tap end to end: a card in the PN532's field to the station's LED answer.

Tapfleet: the station firmware (built with mpy-cross) under the MicroPython unix port, its
UART a pty to the PN532 simulator, talking HTTP to a real ``tapfleet kiosk`` process (ledger
with 1,000 members synced, the station enrolled). A tap is timed from the card's first
answer in the chip's field (to the REQA of InListPassiveTarget) to the moment the board's
first LED change after the answer reaches this process: the firmware's poll, the chip's
frames, the signed request, the kiosk's decision and fsync, the signed answer, the light.

Baseline: the kiosk's own reader path, on the same kind of chip: nfcpy's ``pn532`` driver
on ``tty:<pty>:pn532`` in the same kiosk process, timed from the card's first answer to the
``tap`` event on the kiosk page's Server-Sent Events stream (what its screen shows).
Cards alternate station and kiosk, each a different member (no double-tap refusals); both
sides record check-ins (the station has no room: the store's classes, like the kiosk).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from bench.common import (
    Child,
    Result,
    emit,
    ms,
    parse_args,
    percentile,
    progress,
    python_module,
    work_dir,
)
from bench.seed import card_uid, provision_ledger
from bench.tap_e2e import PageClient, TimedCard

NAME = "station_tap"
KIOSK = "k-station"
STORE = "s-station"
STATION = "st-bench"
KEY = "3c" * 8 + "5e7a9b1d2f4c6e80" * 3
MEMBERS = 1_000


def kiosk_config(folder: Path, nfc_path: str, station_port: int, dead_port: int) -> Path:
    """The kiosk's settings: its own reader on a PN532 pty, the bench station enrolled."""
    config = folder / "kiosk.toml"
    config.write_text(
        f'kiosk_id = "{KIOSK}"\nstore_id = "{STORE}"\n'
        f'ledger_path = "{folder / "ledger.db"}"\ndev_mode = true\nlog_level = "WARNING"\n'
        f'[nfc]\npath = "{nfc_path}"\ntargets = ["106A"]\n'
        f'[link]\nhost = "127.0.0.1"\nport = {dead_port}\n'
        "[ui]\nport = 0\n"
        f'[stations]\nhost = "127.0.0.1"\nport = {station_port}\n'
        f'[[stations.enrolled]]\nstation_id = "{STATION}"\nkey = "{KEY}"\n'
    )
    return config


def timed_card(number: int) -> TimedCard:
    """Member ``number``'s card (NTAG215), noting its first answer in the field."""
    from simulators.nfc import PROFILES
    from simulators.nfc.type2 import Type2Card

    profile: Any = PROFILES["ntag215"]
    return TimedCard(Type2Card(profile, bytes.fromhex(card_uid(number)), None))


def run(taps: int, keep: bool) -> Result:
    """Alternate ``taps`` station taps with ``taps`` taps on the kiosk's own reader."""
    from device.station_tools.build import build
    from simulators.pn532 import PtyChip
    from simulators.ports import free_tcp_port
    from simulators.station import StationBoard

    now = time.time_ns() // 1_000_000
    with work_dir(NAME, keep) as folder, PtyChip() as kiosk_chip, PtyChip() as station_chip:
        ledger = provision_ledger(folder / "ledger.db", KIOSK, STORE, MEMBERS, now)
        ledger.close()  # type: ignore[attr-defined]
        firmware = folder / "firmware"
        build(firmware)
        station_port = free_tcp_port()
        config = kiosk_config(folder, f"tty:{kiosk_chip.path}:pn532", station_port, free_tcp_port())
        kiosk = Child(
            python_module("shared.cli", "kiosk", "--config", str(config)),
            folder / "kiosk.log",
            stdout_pipe=True,
        )
        board = StationBoard(
            folder / "board",
            {
                "station_id": STATION,
                "key": KEY,
                "kiosk": {"host": "127.0.0.1", "port": station_port},
                "wifi": {"ssid": "bench"},
            },
            chip_path=station_chip.path,
            firmware=firmware,
        )
        station_s: list[float] = []
        kiosk_s: list[float] = []
        accepted = 0
        try:
            url = kiosk.readline(60).split("ui=", 1)[1].split()[0]
            page = PageClient(url)
            if not page.connected.wait(10):
                raise RuntimeError("the page client got no event stream")
            board.start()
            board.wait_for("kiosk_reachable", timeout=30)
            progress(NAME, f"kiosk up at {url}, station reachable; {taps} taps each side")
            for n in range(taps):
                mark = board.mark()
                card = timed_card(2 * n)
                station_chip.place(card)
                [signal] = board.wait_for("signal", after=mark, timeout=15)
                board.wait_for("answer", after=mark, timeout=5)
                lit = _first_light_after(board, signal.index)
                station_chip.lift()
                assert card.first_answer is not None
                station_s.append(lit - card.first_answer)
                accepted += int(signal.fields.get("name") == "accepted")

                card = timed_card(2 * n + 1)
                kiosk_chip.place(card)
                try:
                    arrived, data = page.taps.get(timeout=15)
                finally:
                    kiosk_chip.lift()
                assert card.first_answer is not None
                kiosk_s.append(arrived - card.first_answer)
                accepted += int(data.get("outcome") == "accepted")
                if (n + 1) % 20 == 0:
                    progress(NAME, f"{n + 1} of {taps}")
        finally:
            board.stop()
            kiosk.stop()

    p50, p99 = percentile(station_s, 50), percentile(station_s, 99)
    k50, k99 = percentile(kiosk_s, 50), percentile(kiosk_s, 99)
    margin = p99 - k99
    return Result(
        name=NAME,
        tapfleet=(
            f"p50 {ms(p50)} p99 {ms(p99)} chip frame->station LED over signed HTTP "
            f"(MicroPython firmware, {taps} taps)"
        ),
        baseline=f"p50 {ms(k50)} p99 {ms(k99)} the kiosk's own PN532 reader (nfcpy) -> screen",
        ratio=p99 / k99,
        target=f"p99 <= kiosk reader p99 + 100 ms and < 1 s (margin {margin * 1000:+.1f} ms)",
        passed=margin <= 0.100 and p99 < 1.0 and accepted == 2 * taps,
    )


def _first_light_after(board: Any, index: int, timeout: float = 5.0) -> float:
    """When the first pin change after output line ``index`` reached this process."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line_index, _pin, value, _ticks in list(board.pin_changes):
            if line_index > index and value:
                return float(board.arrived[line_index])
        time.sleep(0.002)
    raise RuntimeError("the station played a signal but lit nothing:\n" + board.output(40))


def main() -> None:
    """Entry point."""
    args = parse_args(__doc__ or NAME)
    emit(run(taps=3 if args.quick else 60, keep=args.keep))


if __name__ == "__main__":
    main()
