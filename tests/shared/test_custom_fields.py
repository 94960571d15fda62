"""Custom member fields: definitions, values against their definition, safe changes."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from shared.custom_fields import (
    ChoiceOption,
    FieldDefinition,
    FieldKind,
    FieldProblem,
    Visibility,
    change_problem,
    check_values,
    clean_value,
    clean_values,
)

LEVEL = FieldDefinition(
    key="level",
    label_zh="水平",
    label_en="Level",
    kind=FieldKind.CHOICE,
    options=(
        ChoiceOption(code="beginner", label_zh="初级", label_en="Beginner"),
        ChoiceOption(code="advanced", label_zh="高级", label_en="Advanced"),
    ),
)
CHECKUP = FieldDefinition(
    key="health_check", label_zh="体检日期", label_en="Health check", kind=FieldKind.DATE,
    required=True,
)  # fmt: skip
SHOE = FieldDefinition(key="shoe_size", label_zh="鞋码", label_en="Shoe size",
                       kind=FieldKind.NUMBER)  # fmt: skip
NOTE = FieldDefinition(key="note", label_zh="备注", label_en="Note", kind=FieldKind.TEXT,
                       visibility=Visibility.MANAGERS)  # fmt: skip
WAIVER = FieldDefinition(key="waiver", label_zh="免责声明", label_en="Waiver",
                         kind=FieldKind.YES_NO)  # fmt: skip
ALL = (LEVEL, CHECKUP, SHOE, NOTE, WAIVER)
A = {"code": "a", "label_zh": "甲", "label_en": "A"}


def test_values_are_cleaned_by_kind() -> None:
    assert clean_value(LEVEL, " advanced ") == "advanced"
    assert clean_value(CHECKUP, "2026-03-01") == "2026-03-01"
    assert clean_value(CHECKUP, date(2026, 3, 1)) == "2026-03-01"
    assert clean_value(SHOE, "42") == 42
    assert clean_value(SHOE, -3) == -3
    assert clean_value(NOTE, "  likes mornings ") == "likes mornings"
    assert clean_value(WAIVER, "yes") is True
    assert clean_value(WAIVER, False) is False
    assert clean_value(WAIVER, "否") is False
    assert clean_value(SHOE, "  ") is None
    assert clean_value(LEVEL, None) is None


@pytest.mark.parametrize(
    ("defn", "raw", "code"),
    [
        (LEVEL, "expert", "not_an_option"),
        (LEVEL, 3, "not_an_option"),
        (CHECKUP, "01/03/2026", "not_a_date"),
        (CHECKUP, "2026-02-30", "not_a_date"),
        (SHOE, "42.5", "not_a_number"),
        (SHOE, True, "not_a_number"),
        (SHOE, "4x", "not_a_number"),
        (SHOE, "１２", "not_a_number"),
        (SHOE, 10**13, "number_too_large"),
        (NOTE, 5, "not_text"),
        (NOTE, "x" * 201, "too_long"),
        (WAIVER, "maybe", "not_yes_no"),
    ],
)
def test_a_wrong_value_names_the_field_in_both_languages(
    defn: FieldDefinition, raw: object, code: str
) -> None:
    with pytest.raises(FieldProblem) as caught:
        clean_value(defn, raw)
    problem = caught.value
    assert problem.code == code
    assert problem.key == defn.key
    assert defn.label_en in problem.message("en") and defn.key in problem.message("en")
    assert defn.label_zh in problem.message("zh")


def test_a_registration_needs_every_required_field_it_sees() -> None:
    cleaned, problems = check_values(ALL, {"level": "beginner"}, complete=True, manager=False)
    assert cleaned == {"level": "beginner"}
    assert [(p.key, p.code) for p in problems] == [("health_check", "required")]
    # A blank required value is missing too, and the other problems are all reported.
    raw = {"health_check": " ", "shoe_size": "big", "color": "red"}
    _, problems = check_values(ALL, raw, complete=True, manager=True)
    assert sorted((p.key, p.code) for p in problems) == [
        ("color", "unknown_field"),
        ("health_check", "required"),
        ("shoe_size", "not_a_number"),
    ]


def test_a_change_checks_only_the_keys_given_but_never_blanks_a_required_one() -> None:
    assert clean_values(ALL, {"shoe_size": "40"}, complete=False, manager=False) == {
        "shoe_size": 40
    }
    assert clean_values(ALL, {"shoe_size": ""}, complete=False, manager=False) == {
        "shoe_size": None
    }
    with pytest.raises(FieldProblem) as caught:
        clean_values(ALL, {"health_check": ""}, complete=False, manager=False)
    assert caught.value.code == "required"


def test_a_manager_only_field_is_unknown_to_other_staff() -> None:
    with pytest.raises(FieldProblem) as caught:
        clean_values(ALL, {"note": "x"}, complete=False, manager=False)
    assert (caught.value.key, caught.value.code) == ("note", "unknown_field")
    assert clean_values(ALL, {"note": "x"}, complete=False, manager=True) == {"note": "x"}
    # A required manager-only field does not block front-desk staff, who cannot see it.
    secret = NOTE.model_copy(update={"required": True})
    _, problems = check_values((secret,), {}, complete=True, manager=False)
    assert problems == []


@pytest.mark.parametrize(
    "bad",
    [
        {"key": "Shoe", "kind": "text"},
        {"key": "shoe-size", "kind": "text"},
        {"key": "x", "kind": "choice"},
        {"key": "x", "kind": "text", "options": [A]},
        {"key": "x", "kind": "choice", "options": [A, {**A, "label_en": "B"}]},
        {"key": "x", "kind": "colour"},
        {"key": "x", "kind": "text", "label_zh": " "},
    ],
)  # fmt: skip
def test_a_bad_definition_is_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        FieldDefinition.model_validate({"label_zh": "甲", "label_en": "A", **bad})


def test_a_change_that_would_lose_stored_values_is_refused() -> None:
    as_text = LEVEL.model_copy(update={"kind": FieldKind.TEXT, "options": ()})
    problem = change_problem(LEVEL, as_text, ["beginner"])
    assert problem is not None and problem.code == "kind_in_use"
    assert "1 member(s)" in problem.message("en") and "1 位会员" in problem.message("zh")
    # Nobody holds a value: the kind may change.
    assert change_problem(LEVEL, as_text, []) is None
    # Dropping an option a member holds is refused; renaming its words is fine.
    fewer = LEVEL.model_copy(update={"options": LEVEL.options[:1]})
    problem = change_problem(LEVEL, fewer, ["advanced", "beginner"])
    assert problem is not None and problem.code == "option_in_use"
    assert "advanced" in problem.message("en")
    renamed = LEVEL.model_copy(
        update={"options": (ChoiceOption(code="beginner", label_zh="入门", label_en="Novice"),
                            LEVEL.options[1])}
    )  # fmt: skip
    assert change_problem(LEVEL, renamed, ["advanced", "beginner"]) is None
    relabelled = CHECKUP.model_copy(update={"label_en": "Medical", "required": False,
                                            "visibility": Visibility.MANAGERS})  # fmt: skip
    assert change_problem(CHECKUP, relabelled, ["2026-01-01"]) is None
