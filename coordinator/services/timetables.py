"""A store's class timetable: read it, replace it (rolled out to the store's kiosks as a
new rule-bundle version layered over the chain's rules), and its sessions for a week."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from pydantic import Field, ValidationError

from coordinator import schema
from coordinator.downstream import rule_bundles, timetables
from coordinator.errors import invalid, not_found
from coordinator.runtime import Coordinator
from coordinator.security.auth import Principal
from coordinator.services.common import Body, Out, audit
from coordinator.services.rules import push_bundle
from shared.model import ClassSession
from shared.timetable import Timetable, TimetableError, TimetableException, WeeklySlot, expand


class TimetableIn(Body):
    """A store's whole timetable (it replaces the current one); times are store-local."""

    slots: list[WeeklySlot] = Field([], max_length=500)
    exceptions: list[TimetableException] = Field([], max_length=5000)
    note: str = Field("", max_length=200)


class TimetableOut(Out):
    """A store's current timetable and the rule-bundle version its kiosks run."""

    store_id: str
    timezone: str = Field(description="The store's IANA time zone: every time is local to it.")
    revision: int = Field(description="Per-store revision; 0 before the first save.")
    slots: list[WeeklySlot]
    exceptions: list[TimetableException]
    note: str
    edited_by: str | None
    edited_ms: int | None
    rules_version: int | None = Field(
        description="The rule-bundle version the store's kiosks should run now."
    )


class WeekOut(Out):
    """The sessions of one store-local week (Monday to Sunday)."""

    store_id: str
    timezone: str
    first_day: date
    last_day: date
    sessions: list[ClassSession]


def _store_zone(coord: Coordinator, store_id: str) -> str:
    with coord.db.read() as conn:
        zone = conn.execute(
            sa.select(schema.stores.c.timezone).where(schema.stores.c.store_id == store_id)
        ).scalar()
    if zone is None:
        raise not_found("store", store_id, "store_id")
    return str(zone)


def _out(
    store_id: str, zone: str, stored: timetables.StoredTimetable | None, version: int | None
) -> TimetableOut:
    table = stored.timetable if stored else Timetable(store_id=store_id, timezone=zone)
    return TimetableOut(
        store_id=store_id,
        timezone=table.timezone,
        revision=stored.revision if stored else 0,
        slots=list(table.slots),
        exceptions=list(table.exceptions),
        note=stored.note if stored else "",
        edited_by=stored.edited_by if stored else None,
        edited_ms=stored.edited_ms if stored else None,
        rules_version=version,
    )


def get_timetable(coord: Coordinator, principal: Principal, store_id: str) -> TimetableOut:
    """The store's current timetable (empty before the first save)."""
    principal.require_store(store_id)
    zone = _store_zone(coord, store_id)
    with coord.db.read() as conn:
        stored = timetables.current(conn, store_id)
        running = rule_bundles.bundle_for_store(conn, store_id)
    return _out(store_id, zone, stored, running.version if running else None)


def _field(exc: ValidationError) -> str:
    loc = exc.errors()[0].get("loc", ()) if exc.errors() else ()
    return ".".join(str(p) for p in loc) or "slots"


def put_timetable(
    coord: Coordinator, principal: Principal, store_id: str, body: TimetableIn
) -> TimetableOut:
    """Replace the store's timetable and roll it out to the store's kiosks as a new
    rule-bundle version (chain rules below, this timetable on top). Overlapping slots in
    one room, or exceptions naming unknown slots, are refused and nothing changes."""
    principal.require_write()
    principal.require_store(store_id)
    zone = _store_zone(coord, store_id)
    try:
        table = Timetable(
            store_id=store_id,
            timezone=zone,
            slots=tuple(body.slots),
            exceptions=tuple(body.exceptions),
        )
    except ValidationError as exc:
        message = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise invalid("bad_timetable", message, _field(exc)) from exc
    now = coord.clock.wall_ms()
    with coord.db.write() as conn:
        revision = timetables.save(conn, table, note=body.note, user=principal.username, now_ms=now)
        bundle = timetables.publish_layered(conn, store_id, user=principal.username, now_ms=now)
        audit(
            conn,
            principal.username,
            "timetable.save",
            store_id,
            now,
            revision=revision,
            version=bundle.version if bundle else None,
            slots=len(table.slots),
            exceptions=len(table.exceptions),
        )
        stored = timetables.current(conn, store_id)
    if bundle is not None:
        push_bundle(coord, bundle)
    return _out(store_id, zone, stored, bundle.version if bundle else None)


def week_sessions(
    coord: Coordinator, principal: Principal, store_id: str, day: date | None
) -> WeekOut:
    """The sessions of the store-local week (Monday first) holding ``day`` (default today),
    as the timetable makes them: cancellations and closures left out, substitutes in."""
    principal.require_store(store_id)
    zone = _store_zone(coord, store_id)
    if day is None:
        day = (
            datetime.fromtimestamp(coord.clock.wall_ms() / 1000, UTC)
            .astimezone(ZoneInfo(zone))
            .date()
        )
    if not 2000 <= day.year <= 2200:
        raise invalid("bad_range", "day must be between the years 2000 and 2200", "day")
    monday = day - timedelta(days=day.weekday())
    sunday = monday + timedelta(days=6)
    with coord.db.read() as conn:
        stored = timetables.current(conn, store_id)
    table = stored.timetable if stored else Timetable(store_id=store_id, timezone=zone)
    try:
        sessions = expand(table, monday, sunday)
    except TimetableError as exc:
        raise invalid("bad_range", str(exc), "day") from exc
    return WeekOut(
        store_id=store_id, timezone=zone, first_day=monday, last_day=sunday, sessions=list(sessions)
    )
