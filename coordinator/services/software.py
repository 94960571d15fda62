"""Staged software updates, the coordinator's part: channels, their releases, the channel
each store's kiosks follow, the manifest each kiosk's updater reads, and the rollout.

A channel (``stable``, ``canary``, …) offers one release at a time: a wheel in the chain's
own package repository, its SHA-256, and a phased percentage (APT's
``Phased-Update-Percentage``: :func:`shared.phased.in_phase`, drawn on each kiosk from its
machine id). HQ raises the percentage as the canaries stay healthy, or publishes the
previous version again to stop a rollout. Kiosks report the version they run in every
heartbeat; the rollout shows, per channel, which kiosks run the release, the previous one,
or something else. A kiosk whose updater rolled back keeps reporting the previous version.
"""

from __future__ import annotations

from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import Field, StringConstraints

from coordinator import schema
from coordinator.errors import ApiError, not_found
from coordinator.runtime import Coordinator
from coordinator.security.auth import Principal
from coordinator.services.common import Body, Out, audit, store_exists
from shared.phased import VERSION

DEFAULT_CHANNEL = "stable"
Channel = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")]
Version = Annotated[str, StringConstraints(pattern=VERSION.pattern, max_length=40)]


class ReleaseIn(Body):
    """What a channel offers from now on."""

    version: Version
    wheel_url: Annotated[str, StringConstraints(pattern=r"^https?://\S+\.whl$", max_length=500)]
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    percentage: Annotated[int, Field(ge=0, le=100, description="Phased share of kiosks.")]


class ChannelOut(Out):
    """A channel's release."""

    channel: str
    version: str
    wheel_url: str
    sha256: str
    percentage: int
    previous_version: str | None
    updated_ms: int
    updated_by: str


class Manifest(Out):
    """What a kiosk's updater reads (``device.updater.Manifest``)."""

    channel: str
    version: str
    wheel_url: str
    sha256: str
    percentage: int


class StoreChannelIn(Body):
    """The channel a store's kiosks follow."""

    channel: Channel


class StoreChannelOut(Out):
    """A store and its channel."""

    store_id: str
    channel: str


class KioskSoftware(Out):
    """One kiosk as the rollout sees it."""

    kiosk_id: str
    store_id: str
    software_version: str | None
    state: str = Field(description="release, previous, other or unknown (no heartbeat yet).")


class ChannelRollout(Out):
    """A channel's release and its kiosks."""

    channel: str
    release: ChannelOut | None
    stores: list[str]
    kiosks: list[KioskSoftware]
    counts: dict[str, int]


class SoftwareRollout(Out):
    """Every channel in use, with its kiosks."""

    server_ms: int
    channels: list[ChannelRollout]


def _channel_out(row: Any) -> ChannelOut:
    return ChannelOut.model_validate(row._mapping)


def list_channels(coord: Coordinator, principal: Principal) -> list[ChannelOut]:
    """Every channel with its current release (any logged-in user)."""
    sc = schema.software_channels
    with coord.db.read() as conn:
        return [_channel_out(r) for r in conn.execute(sa.select(sc).order_by(sc.c.channel))]


def publish(coord: Coordinator, principal: Principal, channel: str, body: ReleaseIn) -> ChannelOut:
    """Offer ``body`` on ``channel`` (HQ admins only, audited). Publishing the same version
    with another percentage widens or narrows its phase; publishing an older version stops a
    rollout (kiosks that took the newer one go back on their next timer run)."""
    principal.require_admin()
    now = coord.clock.wall_ms()
    sc = schema.software_channels
    with coord.db.write() as conn:
        old = conn.execute(sa.select(sc).where(sc.c.channel == channel)).first()
        previous = old.previous_version if old is not None else None
        if old is not None and old.version != body.version:
            previous = old.version
        values = {
            **body.model_dump(),
            "previous_version": previous,
            "updated_ms": now,
            "updated_by": principal.username,
        }
        if old is None:
            conn.execute(sa.insert(sc).values(channel=channel, **values))
        else:
            conn.execute(sa.update(sc).where(sc.c.channel == channel).values(**values))
        audit(
            conn,
            principal.username,
            "software.publish",
            channel,
            now,
            version=body.version,
            percentage=body.percentage,
            previous=previous,
        )
        row = conn.execute(sa.select(sc).where(sc.c.channel == channel)).one()
    return _channel_out(row)


def assign_store(
    coord: Coordinator, principal: Principal, store_id: str, body: StoreChannelIn
) -> StoreChannelOut:
    """Make ``store_id``'s kiosks follow ``body.channel`` (HQ admins only, audited)."""
    principal.require_admin()
    now = coord.clock.wall_ms()
    ssc = schema.store_software_channels
    with coord.db.write() as conn:
        store_exists(conn, store_id)
        conn.execute(sa.delete(ssc).where(ssc.c.store_id == store_id))
        conn.execute(sa.insert(ssc).values(store_id=store_id, channel=body.channel))
        audit(conn, principal.username, "software.assign", store_id, now, channel=body.channel)
    return StoreChannelOut(store_id=store_id, channel=body.channel)


def _store_channels(conn: sa.Connection) -> dict[str, str]:
    ssc = schema.store_software_channels
    assigned = dict(conn.execute(sa.select(ssc.c.store_id, ssc.c.channel)).all())
    stores = conn.execute(sa.select(schema.stores.c.store_id)).scalars()
    return {s: assigned.get(s, DEFAULT_CHANNEL) for s in stores}


def manifest(coord: Coordinator, store_id: str) -> Manifest:
    """The release the kiosks of ``store_id`` are offered (public: no secret in it, and a
    kiosk has no API token). 404 when the store is unknown or its channel offers nothing."""
    sc = schema.software_channels
    with coord.db.read() as conn:
        channel = _store_channels(conn).get(store_id)
        if channel is None:
            raise not_found("store", store_id, "store_id")
        row = conn.execute(sa.select(sc).where(sc.c.channel == channel)).first()
    if row is None:
        raise ApiError(404, "no_release", f"channel {channel!r} offers no release yet")
    return Manifest(
        channel=row.channel,
        version=row.version,
        wheel_url=row.wheel_url,
        sha256=row.sha256,
        percentage=row.percentage,
    )


def _state(reported: str | None, release: ChannelOut | None) -> str:
    if not reported:
        return "unknown"
    if release is not None and reported == release.version:
        return "release"
    if release is not None and reported == release.previous_version:
        return "previous"
    return "other"


def rollout(
    coord: Coordinator, kiosks: list[dict[str, Any]], server_ms: int, store_filter: str | None
) -> SoftwareRollout:
    """Each channel in use with the kiosks that follow it and the version each reports.

    ``kiosks`` are fleet views already limited to what the caller may see; ``store_filter``
    limits the stores listed the same way (a store manager sees their own store only).
    """
    sc = schema.software_channels
    with coord.db.read() as conn:
        channel_of = _store_channels(conn)
        releases = {r.channel: _channel_out(r) for r in conn.execute(sa.select(sc))}
    names = sorted(set(releases) | {channel_of.get(k["store_id"], DEFAULT_CHANNEL) for k in kiosks})
    out = []
    for name in names:
        release = releases.get(name)
        members = [k for k in kiosks if channel_of.get(k["store_id"], DEFAULT_CHANNEL) == name]
        views = [
            KioskSoftware(
                kiosk_id=k["kiosk_id"],
                store_id=k["store_id"],
                software_version=k.get("software_version"),
                state=_state(k.get("software_version"), release),
            )
            for k in sorted(members, key=lambda k: k["kiosk_id"])
            if not k.get("revoked")
        ]
        counts = dict.fromkeys(("release", "previous", "other", "unknown"), 0)
        for view in views:
            counts[view.state] += 1
        out.append(
            ChannelRollout(
                channel=name,
                release=release,
                stores=sorted(
                    s for s, c in channel_of.items() if c == name and store_filter in (None, s)
                ),
                kiosks=views,
                counts=counts,
            )
        )
    return SoftwareRollout(server_ms=server_ms, channels=out)
