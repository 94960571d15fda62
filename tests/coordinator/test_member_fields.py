"""Custom member fields over the HTTP API, on SQLite and PostgreSQL: HQ defines fields (the
limit, bad definitions, audited), members are registered and changed with values checked by
the shared rules (wrong type, unknown key, missing required, an option not in the list:
each a 422 naming the field), reads respect the fields' visibility, and a definition change
that would lose members' values is refused while removing a field keeps them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from coordinator import schema
from coordinator.app import create_app
from coordinator.downstream.member_records import load_records
from coordinator.runtime import Coordinator
from coordinator.security.auth import Principal, Role
from coordinator.services import front_desk
from shared.custom_fields import MAX_FIELDS
from tests.dashboard.live import settings_for

LEVEL = {
    "key": "level",
    "label_zh": "水平",
    "label_en": "Level",
    "kind": "choice",
    "options": [
        {"code": "beginner", "label_zh": "初级", "label_en": "Beginner"},
        {"code": "advanced", "label_zh": "高级", "label_en": "Advanced"},
    ],
}
CHECKUP = {"key": "health_check", "label_zh": "体检日期", "label_en": "Health check",
           "kind": "date", "required": True}  # fmt: skip
SHOE = {"key": "shoe_size", "label_zh": "鞋码", "label_en": "Shoe size", "kind": "number"}
NOTE = {"key": "note", "label_zh": "备注", "label_en": "Note", "kind": "text",
        "visibility": "managers"}  # fmt: skip


class Api:
    """A TestClient with a token per user."""

    def __init__(self, client: TestClient, coord: Coordinator):
        self.client = client
        self.coord = coord
        self.tokens: dict[str, dict[str, str]] = {}

    def login(self, user: str, password: str) -> None:
        """Log ``user`` in for later calls."""
        r = self.client.post("/api/v1/auth/token", data={"username": user, "password": password})
        assert r.status_code == 200, r.text
        self.tokens[user] = {"Authorization": f"Bearer {r.json()['access_token']}"}

    def call(self, user: str, method: str, path: str, body: Any = None, status: int = 200) -> Any:
        """One request as ``user``; asserts the status and returns the JSON."""
        r = self.client.request(method, path, json=body, headers=self.tokens[user])
        assert r.status_code == status, (method, path, r.status_code, r.text)
        return r.json()


@pytest.fixture
def api(tmp_path: Path, database: Any) -> Iterator[Api]:
    """The API on the test database: stores s1, s2; admin, a manager and front desk of s1."""
    app = create_app(settings_for(tmp_path, None), database=database)
    with TestClient(app) as client:
        api = Api(client, app.state.coordinator)
        api.login("admin", "admin")
        for store in ("s1", "s2"):
            api.call("admin", "POST", "/api/v1/stores", {"store_id": store, "name": store}, 201)
        for name, role in (("mgr1", "store_manager"), ("fd1", "front_desk")):
            user = {"username": name, "password": "password-123", "role": role, "store_id": "s1"}
            api.call("admin", "POST", "/api/v1/users", user, 201)
            api.login(name, "password-123")
        yield api


def error(body: Any) -> tuple[str, str, str]:
    """(code, field, message) of an error answer."""
    return body["error"]["code"], body["error"]["field"], body["error"]["message"]


def audit_actions(api: Api, prefix: str) -> list[tuple[str, str, str]]:
    """(actor, action, target) of the audit rows whose action starts with ``prefix``."""
    a = schema.audit_log
    with api.coord.db.read() as conn:
        rows = conn.execute(
            sa.select(a.c.actor, a.c.action, a.c.target)
            .where(a.c.action.like(prefix + "%"))
            .order_by(a.c.id)
        )
        return [tuple(r) for r in rows]


def stored(api: Api, member_id: str) -> dict[str, Any]:
    """The member's stored custom values (every field, removed or hidden ones too)."""
    m = schema.members
    with api.coord.db.read() as conn:
        text = conn.execute(sa.select(m.c.custom).where(m.c.member_id == member_id)).scalar()
    return json.loads(text) if text else {}


def change_no(api: Api, member_id: str) -> int:
    """How often the member's kiosk record was marked changed (for the next push)."""
    ms = schema.member_states
    with api.coord.db.read() as conn:
        query = sa.select(ms.c.change_no).where(ms.c.member_id == member_id)
        return int(conn.execute(query).scalar_one())


def define(api: Api) -> None:
    for field in (LEVEL, CHECKUP, SHOE, NOTE):
        api.call("admin", "POST", "/api/v1/member-fields", field, 201)


def test_hq_defines_fields_and_the_desk_registers_with_values(api: Api) -> None:
    # Only HQ admins define fields; a manager is refused and nothing is added.
    body = api.call("mgr1", "POST", "/api/v1/member-fields", LEVEL, 403)
    assert body["error"]["code"] == "admin_only"
    define(api)
    listed = api.call("admin", "GET", "/api/v1/member-fields")
    assert [x["key"] for x in listed["items"]] == ["level", "health_check", "shoe_size", "note"]
    assert listed["max_fields"] == MAX_FIELDS
    assert listed["items"][0]["options"][1] == LEVEL["options"][1]  # type: ignore[index]
    # Front desk does not see the manager-only field at all.
    desk = api.call("fd1", "GET", "/api/v1/member-fields")
    assert [x["key"] for x in desk["items"]] == ["level", "health_check", "shoe_size"]
    api.call("admin", "POST", "/api/v1/member-fields", LEVEL, 409)

    values = {"level": "advanced", "health_check": "2026-03-01", "shoe_size": "42"}
    new = {"member_id": "m1", "display_name": "A*", "home_store_id": "s1", "custom": values}
    member = api.call("fd1", "POST", "/api/v1/members", new, 201)
    assert member["custom"] == {"level": "advanced", "health_check": "2026-03-01",
                                "shoe_size": 42}  # fmt: skip
    # A manager fills in the manager-only note; the desk's read does not show it.
    api.call("mgr1", "PATCH", "/api/v1/members/m1", {"custom": {"note": "VIP parent"}})
    assert api.call("mgr1", "GET", "/api/v1/members/m1")["custom"]["note"] == "VIP parent"
    assert "note" not in api.call("fd1", "GET", "/api/v1/members/m1")["custom"]
    assert "note" not in api.call("fd1", "GET", "/api/v1/members")["items"][0]["custom"]
    # Nor does the desk's timeline (the change names the key, not the value).
    desk = Principal("fd1", Role.FRONT_DESK, "s1")
    lines = front_desk.member_profile(api.coord, desk, "m1", audit_view=False).timeline
    change = next(x for x in lines if x.what == "member.change")
    assert "custom=note" in change.detail and "VIP" not in change.detail
    # A desk change of other keys keeps the note; a blank clears an optional value.
    changed = api.call("fd1", "PATCH", "/api/v1/members/m1", {"custom": {"shoe_size": ""}})
    assert changed["custom"] == {"level": "advanced", "health_check": "2026-03-01"}
    assert stored(api, "m1") == {"level": "advanced", "health_check": "2026-03-01",
                                 "note": "VIP parent"}  # fmt: skip
    # Kiosks never get custom fields, and a change of custom values alone pushes nothing.
    with api.coord.db.read() as conn:
        (record,) = load_records(conn, ["m1"])
    pushed = record.record.model_dump_json()
    assert "advanced" not in pushed and "VIP parent" not in pushed
    before = change_no(api, "m1")
    api.call("fd1", "PATCH", "/api/v1/members/m1", {"custom": {"shoe_size": 43}})
    assert change_no(api, "m1") == before
    api.call("fd1", "PATCH", "/api/v1/members/m1", {"lang": "en"})
    assert change_no(api, "m1") == before + 1  # a profile change is pushed
    assert audit_actions(api, "member_field.")[:2] == [
        ("admin", "member_field.create", "level"),
        ("admin", "member_field.create", "health_check"),
    ]


@pytest.mark.parametrize(
    ("custom", "code", "field", "words"),
    [
        ({"health_check": "2026-03-01", "shoe_size": "forty"}, "custom_not_a_number",
         "custom.shoe_size", "whole number"),
        ({"health_check": "03/01/2026"}, "custom_not_a_date", "custom.health_check", "YYYY-MM-DD"),
        ({"health_check": "2026-03-01", "colour": "red"}, "custom_unknown_field",
         "custom.colour", "no such custom field"),
        ({"level": "beginner"}, "custom_required", "custom.health_check", "required"),
        ({"health_check": "2026-03-01", "level": "expert"}, "custom_not_an_option",
         "custom.level", "choose one of: beginner, advanced"),
        ({"health_check": "2026-03-01", "note": "x"}, "custom_unknown_field", "custom.note",
         "no such custom field"),
    ],
)  # fmt: skip
def test_a_bad_value_is_a_422_naming_the_field_and_registers_nobody(
    api: Api, custom: dict[str, Any], code: str, field: str, words: str
) -> None:
    define(api)
    new = {"member_id": "m9", "display_name": "X*", "home_store_id": "s1", "custom": custom}
    got = error(api.call("fd1", "POST", "/api/v1/members", new, 422))
    assert got[:2] == (code, field)
    assert words in got[2]
    api.call("admin", "GET", "/api/v1/members/m9", status=404)


def test_a_change_may_not_blank_a_required_value_or_give_a_wrong_type(api: Api) -> None:
    define(api)
    new = {"member_id": "m1", "display_name": "A*", "home_store_id": "s1",
           "custom": {"health_check": "2026-03-01"}}  # fmt: skip
    api.call("fd1", "POST", "/api/v1/members", new, 201)
    got = error(api.call("fd1", "PATCH", "/api/v1/members/m1", {"custom": {"health_check": None}},
                         422))  # fmt: skip
    assert got[:2] == ("custom_required", "custom.health_check")
    got = error(api.call("fd1", "PATCH", "/api/v1/members/m1", {"custom": {"shoe_size": True}},
                         422))  # fmt: skip
    assert got[:2] == ("custom_not_a_number", "custom.shoe_size")
    # A key that is no field key at all is refused by the request model.
    api.call("fd1", "PATCH", "/api/v1/members/m1", {"custom": {"Bad Key": 1}}, 422)
    assert stored(api, "m1") == {"health_check": "2026-03-01"}


def test_definition_changes_never_lose_stored_values(api: Api) -> None:
    define(api)
    values = {"health_check": "2026-03-01", "level": "beginner", "shoe_size": 40}
    new = {"member_id": "m1", "display_name": "A*", "home_store_id": "s1", "custom": values}
    api.call("fd1", "POST", "/api/v1/members", new, 201)

    # A new type for a field members hold values of: refused, with what to do.
    as_text = {**SHOE, "kind": "text"}
    got = error(api.call("admin", "PUT", "/api/v1/member-fields/shoe_size", as_text, 409))
    assert got[0] == "custom_kind_in_use" and "add a new field instead" in got[2]
    # Dropping an option a member holds: refused; renaming its words: fine.
    fewer = {**LEVEL, "options": LEVEL["options"][1:]}  # type: ignore[index]
    got = error(api.call("admin", "PUT", "/api/v1/member-fields/level", fewer, 409))
    assert got[:2] == ("custom_option_in_use", "options") and "beginner" in got[2]
    renamed = {**LEVEL, "label_en": "Skill", "options": [
        {"code": "beginner", "label_zh": "入门", "label_en": "Novice"}, LEVEL["options"][1]]}  # type: ignore[index]  # fmt: skip
    out = api.call("admin", "PUT", "/api/v1/member-fields/level", renamed)
    assert out["label_en"] == "Skill" and out["options"][0]["label_en"] == "Novice"
    # A field nobody fills may change type.
    api.call("admin", "PUT", "/api/v1/member-fields/note", {**NOTE, "kind": "yes_no"})
    # A manager may not change a definition.
    api.call("mgr1", "PUT", "/api/v1/member-fields/level", renamed, 403)
    api.call("admin", "PUT", "/api/v1/member-fields/nosuch", {**SHOE, "key": "nosuch"}, 404)

    # Removing hides the field from reads and forms; the values stay and come back.
    removed = api.call("admin", "DELETE", "/api/v1/member-fields/shoe_size")
    assert removed["removed"] is True
    assert "shoe_size" not in api.call("fd1", "GET", "/api/v1/members/m1")["custom"]
    assert [x["key"] for x in api.call("fd1", "GET", "/api/v1/member-fields")["items"]] == [
        "level", "health_check"]  # fmt: skip
    got = error(api.call("fd1", "PATCH", "/api/v1/members/m1", {"custom": {"shoe_size": 41}},
                         422))  # fmt: skip
    assert got[0] == "custom_unknown_field"
    assert stored(api, "m1")["shoe_size"] == 40
    everything = api.call("admin", "GET", "/api/v1/member-fields?include_removed=true")
    assert [x["key"] for x in everything["items"] if x["removed"]] == ["shoe_size"]
    api.call("fd1", "GET", "/api/v1/member-fields?include_removed=true", status=403)
    api.call("admin", "POST", "/api/v1/member-fields/shoe_size/restore")
    assert api.call("fd1", "GET", "/api/v1/members/m1")["custom"]["shoe_size"] == 40
    assert [x[1] for x in audit_actions(api, "member_field.")][-4:] == [
        "member_field.change", "member_field.change", "member_field.remove",
        "member_field.restore"]  # fmt: skip


def test_a_chain_defines_at_most_the_limit(api: Api) -> None:
    for n in range(MAX_FIELDS):
        field = {"key": f"f{n}", "label_zh": f"字段{n}", "label_en": f"Field {n}", "kind": "text"}
        api.call("admin", "POST", "/api/v1/member-fields", field, 201)
    extra = {"key": "one_more", "label_zh": "多", "label_en": "More", "kind": "text"}
    got = error(api.call("admin", "POST", "/api/v1/member-fields", extra, 422))
    assert got[0] == "too_many_fields" and str(MAX_FIELDS) in got[2]
    # Removing one makes room; restoring it while full is refused the same way.
    api.call("admin", "DELETE", "/api/v1/member-fields/f0")
    api.call("admin", "POST", "/api/v1/member-fields", extra, 201)
    got = error(api.call("admin", "POST", "/api/v1/member-fields/f0/restore", status=422))
    assert got[0] == "too_many_fields"
    assert len(api.call("admin", "GET", "/api/v1/member-fields")["items"]) == MAX_FIELDS


@pytest.mark.parametrize(
    "bad",
    [
        {**SHOE, "key": "Shoe-Size"},
        {**LEVEL, "options": []},
        {**SHOE, "kind": "colour"},
        {**SHOE, "options": LEVEL["options"]},
        {**SHOE, "visibility": "everyone"},
        {**SHOE, "label_en": ""},
    ],
)
def test_a_bad_definition_is_a_422(api: Api, bad: dict[str, Any]) -> None:
    api.call("admin", "POST", "/api/v1/member-fields", bad, 422)
    assert api.call("admin", "GET", "/api/v1/member-fields")["items"] == []
