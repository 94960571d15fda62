"""Custom member fields: HQ's definitions, and members' values checked against them.

The rules (what a definition and a value may be, which changes would lose stored values)
are :mod:`shared.custom_fields`; this module stores definitions in ``member_fields``, keeps
members' values in ``members.custom`` and turns the rules' refusals into API errors. A
removed field is hidden, never deleted: its values stay on the members and come back when
the field is restored. Kiosks never receive custom fields.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from pydantic import Field

from coordinator import schema
from coordinator.errors import ApiError, conflict, invalid, not_found
from coordinator.ledger.jsonrows import dumps
from coordinator.runtime import Coordinator
from coordinator.security.auth import Principal, Role
from coordinator.services.common import Out, audit
from shared.custom_fields import (
    MAX_FIELDS,
    ChoiceOption,
    CustomValue,
    FieldDefinition,
    FieldKind,
    FieldProblem,
    Visibility,
    change_problem,
    check_values,
)


class FieldOut(Out):
    """A custom member field as HQ defined it."""

    key: str
    label_zh: str
    label_en: str
    kind: FieldKind
    options: list[ChoiceOption]
    required: bool
    visibility: Visibility
    removed: bool = Field(description="Hidden from forms and reads; members keep its values.")
    position: int


class FieldList(Out):
    """The chain's custom member fields, in form order."""

    items: list[FieldOut]
    max_fields: int = Field(description="How many active fields a chain may define.")


class CustomFieldRefused(ApiError):
    """422: custom field values that do not fit their definitions (every problem found; the
    first one names the field in ``message`` and ``field``)."""

    def __init__(self, problems: Sequence[FieldProblem]):
        first = problems[0]
        super().__init__(422, f"custom_{first.code}", first.message_en, f"custom.{first.key}")
        self.problems = list(problems)


class FieldChangeRefused(ApiError):
    """409: a definition change that would lose or garble members' values (the rules'
    problem, in both languages, is ``problem``)."""

    def __init__(self, problem: FieldProblem):
        fields = {"key_change": "key", "option_in_use": "options"}
        super().__init__(409, f"custom_{problem.code}", problem.message_en,
                         fields.get(problem.code, "kind"))  # fmt: skip
        self.problem = problem


def sees_manager_fields(principal: Principal) -> bool:
    """True for the roles that see manager-only fields (HQ admins and store managers)."""
    return principal.role in (Role.HQ_ADMIN, Role.STORE_MANAGER)


def _definition(row: sa.Row[Any]) -> FieldDefinition:
    return FieldDefinition.model_validate_json(row.definition)


def _out(row: sa.Row[Any]) -> FieldOut:
    d = _definition(row)
    return FieldOut(
        **d.model_dump(exclude={"options"}),
        options=list(d.options),
        removed=bool(row.removed),
        position=row.position,
    )


def active_definitions(conn: sa.Connection) -> list[FieldDefinition]:
    """The chain's fields that are not removed, in form order."""
    f = schema.member_fields
    rows = conn.execute(sa.select(f).where(f.c.removed == sa.false()).order_by(f.c.position))
    return [_definition(r) for r in rows]


def visible_definitions(conn: sa.Connection, principal: Principal) -> list[FieldDefinition]:
    """The active fields ``principal`` sees, in form order."""
    manager = sees_manager_fields(principal)
    return [d for d in active_definitions(conn) if d.visible_to(manager)]


def fields_for(coord: Coordinator, principal: Principal) -> list[FieldDefinition]:
    """The active fields ``principal`` sees (for the pages' forms and columns)."""
    with coord.db.read() as conn:
        return visible_definitions(conn, principal)


def list_fields(
    coord: Coordinator, principal: Principal, *, include_removed: bool = False
) -> FieldList:
    """The fields the caller sees; HQ admins may ask for removed ones too."""
    if include_removed:
        principal.require_admin()
    manager = sees_manager_fields(principal)
    f = schema.member_fields
    query = sa.select(f).order_by(f.c.position)
    if not include_removed:
        query = query.where(f.c.removed == sa.false())
    with coord.db.read() as conn:
        items = [_out(r) for r in conn.execute(query) if _definition(r).visible_to(manager)]
    return FieldList(items=items, max_fields=MAX_FIELDS)


def _active_count(conn: sa.Connection) -> int:
    f = schema.member_fields
    return int(
        conn.execute(
            sa.select(sa.func.count()).select_from(f).where(f.c.removed == sa.false())
        ).scalar_one()
    )


def _too_many() -> ApiError:
    return invalid(
        "too_many_fields",
        f"a chain may define at most {MAX_FIELDS} custom fields; remove one you no longer "
        "need first (its values are kept)",
        "key",
    )


def _row(conn: sa.Connection, key: str) -> sa.Row[Any]:
    f = schema.member_fields
    row = conn.execute(sa.select(f).where(f.c.key == key)).first()
    if row is None:
        raise not_found("custom_field", key, "key")
    return row


def create_field(coord: Coordinator, principal: Principal, body: FieldDefinition) -> FieldOut:
    """Define a new field (HQ admins; at most :data:`MAX_FIELDS` active)."""
    principal.require_admin()
    now = coord.clock.wall_ms()
    f = schema.member_fields
    with coord.db.write() as conn:
        existing = conn.execute(sa.select(f.c.removed).where(f.c.key == body.key)).first()
        if existing is not None:
            hint = "restore it" if existing.removed else "change it"
            raise conflict("custom_field_exists",
                           f"a custom field {body.key!r} exists already; {hint} instead",
                           "key")  # fmt: skip
        if _active_count(conn) >= MAX_FIELDS:
            raise _too_many()
        position = conn.execute(sa.select(sa.func.max(f.c.position))).scalar() or 0
        conn.execute(
            sa.insert(f).values(
                key=body.key,
                definition=body.model_dump_json(),
                position=position + 1,
                removed=False,
                updated_by=principal.username,
                updated_ms=now,
            )
        )
        audit(conn, principal.username, "member_field.create", body.key, now,
              definition=body.model_dump(mode="json"))  # fmt: skip
        return _out(_row(conn, body.key))


def stored_values(conn: sa.Connection, key: str) -> list[CustomValue]:
    """Every member's value for field ``key`` (a definition change must not lose them)."""
    m = schema.members
    pattern = "%" + json.dumps(key) + ":%"
    found: list[CustomValue] = []
    for text in conn.execute(sa.select(m.c.custom).where(m.c.custom.like(pattern))).scalars():
        values = json.loads(text)
        if key in values:
            found.append(values[key])
    return found


def change_field(
    coord: Coordinator, principal: Principal, key: str, body: FieldDefinition
) -> FieldOut:
    """Replace a field's definition (HQ admins). Refused (409) when members' values would be
    lost or garbled: a new type while any member has a value, a choice option dropped while
    a member holds it."""
    principal.require_admin()
    now = coord.clock.wall_ms()
    f = schema.member_fields
    with coord.db.write() as conn:
        row = _row(conn, key)
        problem = change_problem(_definition(row), body, stored_values(conn, key))
        if problem is not None:
            raise FieldChangeRefused(problem)
        conn.execute(
            sa.update(f)
            .where(f.c.key == key)
            .values(
                definition=body.model_dump_json(), updated_by=principal.username, updated_ms=now
            )
        )
        audit(conn, principal.username, "member_field.change", key, now,
              definition=body.model_dump(mode="json"))  # fmt: skip
        return _out(_row(conn, key))


def set_removed(coord: Coordinator, principal: Principal, key: str, removed: bool) -> FieldOut:
    """Remove a field (hidden; members keep their values) or restore it (HQ admins)."""
    principal.require_admin()
    now = coord.clock.wall_ms()
    f = schema.member_fields
    with coord.db.write() as conn:
        row = _row(conn, key)
        if bool(row.removed) != removed:
            if not removed and _active_count(conn) >= MAX_FIELDS:
                raise _too_many()
            conn.execute(
                sa.update(f)
                .where(f.c.key == key)
                .values(removed=removed, updated_by=principal.username, updated_ms=now)
            )
            action = "member_field.remove" if removed else "member_field.restore"
            audit(conn, principal.username, action, key, now)
        return _out(_row(conn, key))


# -- members' values -------------------------------------------------------------------------


def load_values(text: str | None) -> dict[str, CustomValue]:
    """A member's stored values (``members.custom``)."""
    if not text:
        return {}
    value = json.loads(text)
    return value if isinstance(value, dict) else {}


def shown_values(
    text: str | None, definitions: Sequence[FieldDefinition]
) -> dict[str, CustomValue]:
    """The stored values of the given (visible, active) fields only."""
    values = load_values(text)
    return {d.key: values[d.key] for d in definitions if d.key in values}


def merged_values(
    conn: sa.Connection,
    principal: Principal,
    raw: Mapping[str, object],
    *,
    current: str | None,
    complete: bool,
) -> str | None:
    """``members.custom`` after applying ``raw`` (checked against the fields ``principal``
    sees; a blank value clears one). Values of removed or hidden fields are kept.
    Raises :class:`CustomFieldRefused` naming every problem."""
    cleaned, problems = check_values(
        active_definitions(conn), raw, complete=complete, manager=sees_manager_fields(principal)
    )
    if problems:
        raise CustomFieldRefused(problems)
    values = load_values(current)
    for key, value in cleaned.items():
        if value is None:
            values.pop(key, None)
        else:
            values[key] = value
    return dumps(values) if values else None
