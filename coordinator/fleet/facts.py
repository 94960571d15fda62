"""What the fleet monitor remembers per kiosk, and the timeline changes between two looks.

Pure functions over a kiosk's fleet view (:func:`coordinator.fleet.fleet_view.kiosk_view`).
The connection state is not here: the ingest records its changes itself, the moment the
retained status arrives (see :func:`coordinator.fleet.timeline.record_connection`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from coordinator.fleet.alerts import NOT_A_PROBLEM
from coordinator.fleet.timeline import Change


def remembered(
    view: Mapping[str, Any], previous: Mapping[str, Any] | None, now_ms: int, sync_grace_ms: int = 0
) -> dict[str, Any]:
    """The facts to remember for a kiosk now (and since when each reader is not ok).

    "In sync" is remembered as lost only once the kiosk has been out of sync for
    ``sync_grace_ms``: right after every member push each kiosk is a version behind until
    its next heartbeat, which is neither a problem nor worth a timeline entry.
    """
    before_readers: Mapping[str, str] = (previous or {}).get("readers", {})
    before_since: Mapping[str, int] = (previous or {}).get("reader_since", {})
    readers = {name: str(r["state"]) for name, r in view["readers"].items()}
    since: dict[str, int] = {}
    for name, state in readers.items():
        if state in NOT_A_PROBLEM:
            continue
        was_bad = name in before_since and before_readers.get(name) not in NOT_A_PROBLEM
        since[name] = before_since[name] if was_bad else now_ms
    out_since = None if view["in_sync"] else (previous or {}).get("out_of_sync_since") or now_ms
    in_sync = out_since is None or now_ms - out_since < sync_grace_ms
    if previous is not None and previous.get("in_sync") is False and not view["in_sync"]:
        in_sync = False  # once remembered as behind, it stays so until really in sync
    return {
        "heard": view.get("heartbeat_received_ms") is not None,
        "alive": bool(view["alive"]),
        "in_sync": in_sync,
        "out_of_sync_since": out_since,
        "reported": view.get("reported_last_seq") is not None,
        "readers": readers,
        "reader_since": since,
        "software": view.get("software_version"),
    }


def changes(
    view: Mapping[str, Any],
    previous: Mapping[str, Any] | None,
    current: Mapping[str, Any],
    now_ms: int,
) -> list[Change]:
    """Timeline entries for what changed between ``previous`` and ``current``.

    On the first look only facts backed by evidence are written (a kiosk never heard from
    is not "dead since forever"). Each entry carries the time the change happened where
    the evidence says it (a heartbeat's arrival, the moment the alive window ran out).
    """
    kiosk = str(view["kiosk_id"])
    out: list[Change] = []
    before = previous or {}

    if current["heard"] and (previous is None or before.get("alive") != current["alive"]):
        if current["alive"]:
            at = view.get("heartbeat_received_ms") or now_ms
        else:
            at = view.get("alive_until_ms") or now_ms
        out.append(
            Change(
                kiosk,
                "alive",
                "alive" if current["alive"] else "dead",
                _word(before.get("alive"), "alive", "dead") if previous else None,
                int(at),
                {"heartbeat_interval_s": view.get("heartbeat_interval_s")},
            )
        )
    # On the first look an unproven "in sync" (behind, within the grace) is not written.
    first_ok = previous is None and bool(view["in_sync"]) == current["in_sync"]
    changed = previous is not None and before.get("in_sync") != current["in_sync"]
    if current["reported"] and (first_ok or changed):
        out.append(
            Change(
                kiosk,
                "in_sync",
                "in_sync" if current["in_sync"] else "behind",
                _word(before.get("in_sync"), "in_sync", "behind") if previous else None,
                now_ms if current["in_sync"] else int(current["out_of_sync_since"] or now_ms),
                {
                    "applied_seq": view.get("applied_seq"),
                    "reported_last_seq": view.get("reported_last_seq"),
                    "versions": {
                        n: [v["applied"], v["current"]] for n, v in view["versions"].items()
                    },
                },
            )
        )
    old_readers: Mapping[str, str] = before.get("readers", {})
    for name, state in sorted(current["readers"].items()):
        if old_readers.get(name) != state:
            detail = view["readers"].get(name, {}).get("detail", "")
            out.append(
                Change(
                    kiosk,
                    f"reader:{name}",
                    state,
                    old_readers.get(name),
                    now_ms,
                    {"detail": detail} if detail else {},
                )
            )
    software = current.get("software")
    if software and before.get("software") != software:
        out.append(Change(kiosk, "software", str(software), before.get("software"), now_ms))
    return out


def _word(value: object, yes: str, no: str) -> str | None:
    if value is None:
        return None
    return yes if value else no
