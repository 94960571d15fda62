"""Tap end to end with the kiosk online: card to result while the kiosk syncs with a coordinator.

``tap_e2e`` measures the kiosk offline (no broker); a kiosk in a store is online, and every
tap then also goes out to the coordinator (the event batch, its ack, the member's new record
pushed back), on the same process and cores as the next tap. This is that case.

Tapfleet: a private Mosquitto, the real ``tapfleet coordinator`` (the store, the kiosk, a
published rule bundle, one member with a card per tap, created through its API) and the real
``tapfleet kiosk`` (fresh ledger: it syncs every member from the coordinator; nfcpy reader on
the ``udp`` transport; its link on the broker), and in this process a page client on the
kiosk UI's event stream. A warm-up card, the last member created, is tapped until accepted
(the kiosk has synced every member). Then each tap is timed, as in ``tap_e2e``, from the
simulated card's first answer to the ``tap`` event on the page; at the end every tap must be
at the coordinator (its events list).

Baseline: nfcpy alone reading the same cards (``bench.nfc_raw_reader`` in its own process),
alternating with the kiosk's taps, as in ``tap_e2e``.
"""

from __future__ import annotations

import time
from typing import Any

from bench.common import (
    BENCH_COORDINATOR,
    Child,
    Result,
    emit,
    ms,
    parse_args,
    percentile,
    progress,
    python_module,
    running_broker,
    work_dir,
)
from bench.seed import card_uid, member_id
from bench.tap_e2e import PageClient, alternate_taps, place_card

NAME = "tap_e2e_online"
KIOSK = "k-e2e-online"
STORE = "s-e2e-online"
WARM_UP_S = 60.0


def run(taps: int, keep: bool) -> Result:
    """Alternate ``taps`` online kiosk taps with ``taps`` raw reads."""
    import httpx
    import tomli_w

    from simulators.ports import free_udp_port
    from simulators.services import CoordinatorProcess

    kiosk_s: list[float] = []
    raw_s: list[float] = []
    accepted = 0
    at_coordinator = 0
    with work_dir(NAME, keep) as folder, running_broker(folder / "broker") as broker:
        coordinator = CoordinatorProcess(
            folder / "coordinator", mqtt_port=broker.port, settings=BENCH_COORDINATOR
        )
        coordinator.start()
        kiosk: Child | None = None
        raw: Child | None = None
        try:
            http = httpx.Client(
                base_url=coordinator.url,
                headers={"Authorization": f"Bearer {coordinator.token()}"},
                timeout=30,
            )

            def api(method: str, path: str, body: Any = None, **params: Any) -> Any:
                r = http.request(method, path, json=body, params=params or None)
                if r.status_code >= 400:
                    raise RuntimeError(f"{method} {path}: {r.status_code} {r.text}")
                return r.json()

            api("POST", "/api/v1/stores", {"store_id": STORE, "name": STORE})
            api("POST", "/api/v1/kiosks", {"kiosk_id": KIOSK, "store_id": STORE})
            bundle = api("POST", "/api/v1/rule-bundles", {"store_ids": []})
            api("POST", f"/api/v1/rule-bundles/{bundle['bundle_id']}/publish", {})
            for n in range(taps + 1):  # the last one is the warm-up card
                api("POST", "/api/v1/members", {"member_id": member_id(n), "display_name": "王*"})
                api("POST", f"/api/v1/members/{member_id(n)}/cards", {"uid": card_uid(n)})
            progress(NAME, f"coordinator up, {taps + 1} members with cards")

            nfc_port, raw_port = free_udp_port(), free_udp_port()
            config = folder / "kiosk.toml"
            settings = {
                "kiosk_id": KIOSK,
                "store_id": STORE,
                "ledger_path": str(folder / "kiosk-ledger.db"),
                "dev_mode": True,
                "log_level": "WARNING",
                "nfc": {"path": f"udp:127.0.0.1:{nfc_port}", "targets": ["106A"]},
                "link": {"host": broker.host, "port": broker.port, "heartbeat_interval_s": 1},
                "ui": {"port": 0},
            }
            config.write_text(tomli_w.dumps(settings), encoding="utf-8")
            kiosk = Child(
                python_module("shared.cli", "kiosk", "--config", str(config)),
                folder / "kiosk.log",
                stdout_pipe=True,
            )
            url = kiosk.readline(60).split("ui=", 1)[1].strip()
            raw = Child(
                python_module("bench.nfc_raw_reader", f"udp:127.0.0.1:{raw_port}"),
                folder / "raw.log",
                stdout_pipe=True,
            )
            if raw.readline(30) != "READY":
                raise RuntimeError(f"raw reader did not open:\n{raw.tail()}")
            page = PageClient(url)
            if not page.connected.wait(10):
                raise RuntimeError("the page client got no event stream")

            # Warm-up: the last member's card until accepted (every member synced).
            deadline = time.monotonic() + WARM_UP_S
            warm_ups = 0
            while True:
                _card, link = place_card(nfc_port, taps)
                try:
                    _, data = page.taps.get(timeout=15)
                finally:
                    link.stop()
                warm_ups += 1
                if data.get("outcome") == "accepted":
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the kiosk never accepted the warm-up card: {data}")
                time.sleep(1.0)
            progress(NAME, f"kiosk online and synced ({warm_ups} warm-up taps); {taps} taps")

            accepted = alternate_taps(NAME, page, raw, nfc_port, raw_port, taps, kiosk_s, raw_s)

            # Synced: every measured tap reached the coordinator.
            wanted = {member_id(n) for n in range(taps)}
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                items = api("GET", "/api/v1/events", source=KIOSK, limit=1000)["items"]
                at_coordinator = len({e["member_id"] for e in items} & wanted)
                if at_coordinator == taps:
                    break
                time.sleep(0.2)
            http.close()
        finally:
            if kiosk is not None:
                kiosk.stop()
            if raw is not None:
                raw.stop()
            coordinator.stop()

    p50, p99 = percentile(kiosk_s, 50), percentile(kiosk_s, 99)
    r50, r99 = percentile(raw_s, 50), percentile(raw_s, 99)
    margin = p99 - r99
    return Result(
        name=NAME,
        tapfleet=(
            f"p50 {ms(p50)} p99 {ms(p99)} card->result on the page, kiosk online and syncing "
            f"({taps} taps, {accepted} accepted check-ins, {at_coordinator} at the coordinator)"
        ),
        baseline=f"p50 {ms(r50)} p99 {ms(r99)} nfcpy raw read of the same cards",
        ratio=p99 / r99,
        target=f"p99 <= raw p99 + 20 ms, every tap synced (margin {margin * 1000:+.1f} ms)",
        passed=margin <= 0.020 and accepted == taps and at_coordinator == taps,
    )


def main() -> None:
    """Entry point."""
    args = parse_args(__doc__ or NAME)
    emit(run(taps=4 if args.quick else 100, keep=args.keep))


if __name__ == "__main__":
    main()
