"""Software channels at the coordinator: releases per channel, the channel of each store, the
manifest a kiosk's updater reads, and the rollout from the versions kiosks report in their
heartbeats (coordinator/services/software.py)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from coordinator import schema
from coordinator.security import page_sessions
from device.updater import Manifest as UpdaterManifest
from shared.protocol import Heartbeat, Versions
from shared.topics import Channel
from tests.dashboard.ingest_feed import api_without_broker, feed


def release(version: str, percentage: int) -> dict[str, object]:
    return {
        "version": version,
        "wheel_url": f"https://packages.example/tapfleet-{version}-py3-none-any.whl",
        "sha256": version.replace(".", "")[:1] * 64,
        "percentage": percentage,
    }


def test_channels_manifests_and_the_rollout_of_reported_versions(tmp_path: Path) -> None:
    with api_without_broker(tmp_path) as api:
        for store in ("s1", "s2"):
            api.call("POST", "/api/v1/stores", json={"store_id": store, "name": store}, expect=201)
        for kiosk, store in (("k1", "s1"), ("k2", "s1"), ("k3", "s2")):
            body = {"kiosk_id": kiosk, "store_id": store}
            api.call("POST", "/api/v1/kiosks", json=body, expect=201)
        client = api.client

        # Nothing offered yet; unknown stores are 404 too. The manifest needs no login.
        r = client.get("/api/v1/software/manifest/s1")
        assert r.status_code == 404 and r.json()["error"]["code"] == "no_release"
        assert client.get("/api/v1/software/manifest/nope").json()["error"]["code"] == (
            "store_not_found"
        )

        api.call("PUT", "/api/v1/software/channels/stable", json=release("1.0.0", 100))
        api.call("PUT", "/api/v1/software/channels/canary", json=release("1.1.0", 10))
        out = api.call("PUT", "/api/v1/software/stores/s2/channel", json={"channel": "canary"})
        assert out == {"store_id": "s2", "channel": "canary"}
        # The canary moves on: the version it replaces is remembered.
        canary = api.call("PUT", "/api/v1/software/channels/canary", json=release("1.2.0", 20))
        assert (canary["version"], canary["previous_version"]) == ("1.2.0", "1.1.0")
        # Same version, wider phase: the previous version stays what it was.
        canary = api.call("PUT", "/api/v1/software/channels/canary", json=release("1.2.0", 50))
        assert (canary["percentage"], canary["previous_version"]) == (50, "1.1.0")

        s1 = client.get("/api/v1/software/manifest/s1").json()
        s2 = client.get("/api/v1/software/manifest/s2").json()
        assert (s1["channel"], s1["version"], s1["percentage"]) == ("stable", "1.0.0", 100)
        assert (s2["channel"], s2["version"], s2["percentage"]) == ("canary", "1.2.0", 50)
        # What the kiosk's updater reads, it can parse.
        assert UpdaterManifest.model_validate(s2).version == "1.2.0"

        # Refused input: a 4xx with the field, nothing changed.
        for bad in (
            {**release("1.3.0", 101)},
            {**release("1.3.0", 5), "sha256": "XYZ"},
            {**release("1.3.0", 5), "wheel_url": "ftp://x/y.tar.gz"},
            {**release("1.3.0", 5), "version": "1.3; rm"},
        ):
            api.call("PUT", "/api/v1/software/channels/canary", json=bad, expect=422)
        assert client.get("/api/v1/software/manifest/s2").json()["version"] == "1.2.0"

        # Kiosks report what they run: k1 the stable release, k3 went back to the canary's
        # previous version (its updater rolled back), k2 was never heard from.
        now = api.coord.clock.wall_ms()
        for kiosk, store, version in (("k1", "s1", "1.0.0"), ("k3", "s2", "1.1.0")):
            beat = Heartbeat(
                kiosk_id=kiosk, store_id=store, sent_wall_ms=now, hlc_ms=now,
                versions=Versions(), software_version=version,
            )  # fmt: skip
            feed(api.coord, kiosk, Channel.HEARTBEAT, beat, now)
        api.coord.live.monitor.tick(now + 10)  # type: ignore[union-attr]

        rollout = {c["channel"]: c for c in api.call("GET", "/api/v1/fleet/software")["channels"]}
        stable, canary_view = rollout["stable"], rollout["canary"]
        assert stable["stores"] == ["s1"] and canary_view["stores"] == ["s2"]
        assert [(k["kiosk_id"], k["state"]) for k in stable["kiosks"]] == [
            ("k1", "release"),
            ("k2", "unknown"),
        ]
        k3 = canary_view["kiosks"]
        assert [(k["kiosk_id"], k["software_version"], k["state"]) for k in k3] == [
            ("k3", "1.1.0", "previous")
        ]
        assert canary_view["counts"] == {"release": 0, "previous": 1, "other": 0, "unknown": 0}

        # A store manager sees their own store only.
        api.call(
            "POST",
            "/api/v1/users",
            json={"username": "mgr1", "password": "password-123", "role": "store_manager",
                  "store_id": "s1"},
            expect=201,
        )  # fmt: skip
        token = client.post(
            "/api/v1/auth/token", data={"username": "mgr1", "password": "password-123"}
        ).json()["access_token"]
        seen = client.get(
            "/api/v1/fleet/software", headers={"Authorization": f"Bearer {token}"}
        ).json()["channels"]
        assert {k["kiosk_id"] for c in seen for k in c["kiosks"]} == {"k1", "k2"}
        assert {s for c in seen for s in c["stores"]} == {"s1"}

        # The rollouts page shows the same, in both languages.
        r = client.post(
            "/dashboard/login", data={"username": "admin", "password": "admin"},
            follow_redirects=False,
        )  # fmt: skip
        client.cookies.set(page_sessions.COOKIE, r.cookies[page_sessions.COOKIE])
        for lang, words in (
            ("en", "Release 1.2.0, phased to 50% of kiosks · previous 1.1.0"),
            ("zh", "当前版本 1.2.0，分阶段比例 50% · 上一版本 1.1.0"),
        ):
            client.cookies.set(page_sessions.LANG_COOKIE, lang)
            page = client.get("/dashboard/rollouts").text
            assert words in page, lang
            assert '<tr data-kiosk="k3" data-state="previous">' in page
            assert '<tr data-kiosk="k1" data-state="release">' in page
        client.cookies.clear()

        # Every change is audited with who made it.
        with api.coord.db.read() as conn:
            actions = conn.execute(
                sa.select(schema.audit_log.c.action, schema.audit_log.c.target)
                .where(schema.audit_log.c.action.like("software.%"))
                .order_by(schema.audit_log.c.id)
            ).all()
        assert [tuple(a) for a in actions] == [
            ("software.publish", "stable"),
            ("software.publish", "canary"),
            ("software.assign", "s2"),
            ("software.publish", "canary"),
            ("software.publish", "canary"),
        ]
