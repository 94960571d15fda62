"""``tapfleet demo`` end to end: the fleet comes up, traffic is applied, nothing is left behind.

The demo runs as a subprocess exactly as ``make demo`` starts it. While it runs, the test
asks the coordinator's API (as the printed HQ login) whether every kiosk reported online
and whether their events, including the offline kiosk's backlog, were applied.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest

from simulators.ports import free_tcp_port
from tests.demo.conftest import DemoRun

pytestmark = pytest.mark.slow

UP_TIMEOUT_S = 90.0


class Api:
    """The coordinator's API, logged in as one of the demo's printed logins."""

    def __init__(self, base: str, username: str, password: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=10)
        answer = self.http.post(
            "/api/v1/auth/token", data={"username": username, "password": password}
        )
        answer.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"

    def get(self, path: str, **params: Any) -> Any:
        answer = self.http.get(path, params=params)
        answer.raise_for_status()
        return answer.json()

    def events(self, **params: Any) -> list[dict[str, Any]]:
        """Every event matching ``params`` (follows the keyset paging)."""
        items: list[dict[str, Any]] = []
        after = 0
        while True:
            page = self.get("/api/v1/events", after_id=after, limit=1000, **params)
            items += page["items"]
            if page["next_after_id"] is None:
                return items
            after = page["next_after_id"]


def _running(run: DemoRun) -> bool:
    return run.state().get("phase") == "running"


def _login(run: DemoRun) -> Api:
    state = run.state()
    admin = next(x for x in state["logins"] if x["role"] == "hq_admin")
    return Api(state["coordinator_url"], admin["username"], admin["password"])


def test_demo_runs_a_fleet_applies_its_events_and_leaves_nothing_behind(
    tmp_path: Path, demo_runs: list[DemoRun]
) -> None:
    port = free_tcp_port()
    run = DemoRun(tmp_path / "demo", ["--duration", "60", "--coordinator-port", str(port)])
    demo_runs.append(run)
    run.wait_for(lambda: _running(run), UP_TIMEOUT_S, "the demo fleet to come up")
    state = run.state()
    assert state["coordinator_url"] == f"http://127.0.0.1:{port}"
    kiosk_ids = {k["kiosk_id"] for k in state["kiosks"]}
    assert len(kiosk_ids) == 4 and len({k["store_id"] for k in state["kiosks"]}) == 3
    # What a newcomer needs is on the screen: kiosk UIs, the coordinator, the logins.
    for kiosk in state["kiosks"]:
        assert kiosk["ui_url"] in run.output
    assert f"http://127.0.0.1:{port}/docs" in run.output
    for login in state["logins"]:
        assert login["username"] in run.output
    api = _login(run)
    # The demo's gateway got the birthday greetings and welcome gifts, each signature checked.
    run.wait_for(lambda: run.output.count("signature ok") >= 4, 30, "the automations' webhooks")
    assert "notification.birthday ->" in run.output
    assert "notification.registration ->" in run.output
    assert "SIGNATURE REFUSED" not in run.output

    def every_kiosk_online() -> bool:
        rows = {r["kiosk_id"]: r for r in api.get("/api/v1/kiosks")}
        return all(rows[k]["connected"] and rows[k]["alive"] for k in kiosk_ids)

    run.wait_for(every_kiosk_online, 30, "every kiosk to be connected and alive")
    for kiosk in state["kiosks"]:
        answer = httpx.get(kiosk["ui_url"] + "/api/status", timeout=5).json()
        assert answer["ready"] is True and answer["nfc"]["state"] == "ok"

    run.wait_for(
        lambda: (run.state().get("offline_story") or {}).get("applied") is True,
        45,
        "the offline kiosk's backlog to be applied",
    )
    story = run.state()["offline_story"]
    offline = story["kiosk_id"]
    assert story["backlog_events"] > 0
    row = api.get(f"/api/v1/kiosks/{offline}")
    assert row["evidence"]["applied_seq"] >= story["last_seq_at_restore"]
    events = api.events(source=offline)
    # Gapless: every event the kiosk had recorded when its network came back is applied,
    # including those it decided while offline.
    seqs = {e["seq"] for e in events}
    assert set(range(1, story["last_seq_at_restore"] + 1)) <= seqs
    assert any(e["offline"] for e in events)
    # The same points (and store voucher) were spent offline and online: the backlog
    # raised the conflicts when it arrived.
    roles = run.state()["roles"]
    conflicts = api.get("/api/v1/conflicts", status="open")["items"]
    raised = {(c["kind"], c["member_id"]) for c in conflicts if c["created_ms"] >= story["cut_ms"]}
    assert ("points_overdrawn", roles["points_member"]) in raised
    assert ("stored_value_overdrawn", roles["points_member"]) in raised
    assert ("coupon_reused", roles["coupon_member"]) in raised

    for kiosk_id in kiosk_ids:
        applied = api.events(source=kiosk_id)
        assert applied, f"no events applied from {kiosk_id}"
    signins = api.events(kind="class_signin")
    assert len(signins) >= 10  # the class burst reached the central ledger
    assert len({e["member_id"] for e in signins}) == len(signins)  # never deducted twice

    code = run.wait_exit(90)
    assert code == 0, run.output[-4000:]
    assert "--duration 60 s elapsed" in run.output
    assert run.seen, "no child processes were ever seen"
    assert run.survivors() == []
    pids = run.state()
    assert pids["phase"] == "stopped" and pids["exit_code"] == 0
    recorded = json.loads((tmp_path / "demo" / "pids.json").read_text())["children"]
    assert run.direct == {c["pid"] for c in recorded.values()}  # the pid file names them all
    assert not any(c["running"] for c in recorded.values())


def test_a_crashed_kiosk_stops_the_demo_and_nothing_is_left(
    tmp_path: Path, demo_runs: list[DemoRun]
) -> None:
    run = DemoRun(tmp_path / "demo", ["--coordinator-port", "0", "--kiosks", "2"])
    demo_runs.append(run)
    run.wait_for(lambda: _running(run), UP_TIMEOUT_S, "the demo fleet to come up")
    pids = json.loads((tmp_path / "demo" / "pids.json").read_text())
    os.kill(pids["children"]["k-jingan-1"]["pid"], signal.SIGKILL)
    code = run.wait_exit(60)
    assert code == 1
    assert "k-jingan-1 exited unexpectedly" in run.output, run.output[-3000:]
    assert run.survivors() == []


def test_ctrl_c_twice_kills_everything_at_once(tmp_path: Path, demo_runs: list[DemoRun]) -> None:
    run = DemoRun(tmp_path / "demo", ["--coordinator-port", "0", "--kiosks", "2"])
    demo_runs.append(run)
    run.wait_for(lambda: _running(run), UP_TIMEOUT_S, "the demo fleet to come up")
    run.popen.send_signal(signal.SIGINT)
    run.wait_for(lambda: "stopping:" in run.output, 10, "the demo to start stopping")
    run.popen.send_signal(signal.SIGINT)
    code = run.wait_exit(30)
    assert code == 0
    assert "nothing left running" in run.output
    assert run.survivors() == []
