"""Custom member fields a chain defines (issue 13: "custom fields the chain defines").

HQ defines up to :data:`MAX_FIELDS` fields (a key, a label in Chinese and English, a kind,
whether it is required and which roles see it); members carry values for them. This module
holds the rules once, as pure functions: what a definition may be, what a value of a
definition may be (:func:`clean_value`, :func:`clean_values`) and which definition changes
would lose stored values (:func:`change_problem`). The coordinator's API and its dashboard
pages both call these; kiosks never see custom fields.

A value is stored as JSON: text and choice codes as strings, numbers as integers (whole
numbers only: money is fen elsewhere, and a height is given in cm), dates as ISO
``YYYY-MM-DD`` strings, yes/no as booleans.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from datetime import date
from enum import StrEnum
from typing import Annotated

from pydantic import Field, StringConstraints, model_validator

from shared.errors import TapfleetError
from shared.model import Frozen

MAX_FIELDS = 20
"""Active (not removed) fields a chain may define."""
MAX_OPTIONS = 50
MAX_TEXT = 200
NUMBER_LIMIT = 10**12
"""Numbers are whole and within +/- this bound."""

FieldKey = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,32}$")]
"""A field's key: lower-case letters, digits and underscores (``shoe_size``)."""
Label = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=60)]
OptionCode = Annotated[str, StringConstraints(pattern=r"^[a-z0-9_]{1,32}$")]

CustomValue = str | int | bool
"""A stored value: text, choice code or ISO date (str), number (int), yes/no (bool)."""


class FieldKind(StrEnum):
    """What a custom field holds."""

    TEXT = "text"
    NUMBER = "number"
    DATE = "date"
    CHOICE = "choice"
    YES_NO = "yes_no"


class Visibility(StrEnum):
    """Which staff see (and may fill in) a field."""

    STAFF = "staff"
    """Every staff role (front desk, coach, viewer, managers, HQ)."""
    MANAGERS = "managers"
    """HQ admins and store managers only."""


class ChoiceOption(Frozen):
    """One option of a choice field: a stable code and its words."""

    code: OptionCode
    label_zh: Label
    label_en: Label


class FieldDefinition(Frozen):
    """A custom member field as HQ defines it."""

    key: FieldKey
    label_zh: Label
    label_en: Label
    kind: FieldKind
    options: tuple[ChoiceOption, ...] = Field((), max_length=MAX_OPTIONS)
    """The choices of a ``choice`` field (none for the other kinds)."""
    required: bool = False
    visibility: Visibility = Visibility.STAFF

    @model_validator(mode="after")
    def _options_fit_kind(self) -> FieldDefinition:
        if self.kind is FieldKind.CHOICE:
            if not self.options:
                raise ValueError("a choice field needs at least one option")
            codes = [x.code for x in self.options]
            if len(set(codes)) != len(codes):
                raise ValueError("option codes must be different from each other")
        elif self.options:
            raise ValueError("only a choice field has options")
        return self

    def label(self, lang: str) -> str:
        """The field's label in ``lang`` (``zh`` or ``en``)."""
        return self.label_en if lang == "en" else self.label_zh

    def option_label(self, code: str, lang: str) -> str:
        """The words of option ``code`` in ``lang`` (the code itself if it is not listed)."""
        for x in self.options:
            if x.code == code:
                return x.label_en if lang == "en" else x.label_zh
        return code

    def visible_to(self, manager: bool) -> bool:
        """True when a caller sees this field (``manager``: an HQ admin or store manager)."""
        return manager or self.visibility is Visibility.STAFF


class FieldProblem(TapfleetError):
    """A value (or a definition change) that is refused, naming the field, in both
    languages, each saying what to do."""

    def __init__(self, key: str, code: str, message_en: str, message_zh: str):
        self.key = key
        self.code = code
        self.message_en = message_en
        self.message_zh = message_zh
        super().__init__(message_en)

    def message(self, lang: str) -> str:
        """The message in ``lang`` (``zh`` or ``en``)."""
        return self.message_en if lang == "en" else self.message_zh


def _problem(defn: FieldDefinition, code: str, en: str, zh: str) -> FieldProblem:
    en_text = f"{defn.label_en} ({defn.key}): {en}"
    return FieldProblem(defn.key, code, en_text, f"{defn.label_zh}（{defn.key}）：{zh}")


def _is_blank(raw: object) -> bool:
    return raw is None or (isinstance(raw, str) and not raw.strip())


def clean_value(defn: FieldDefinition, raw: object) -> CustomValue | None:
    """``raw`` (from JSON or a form's text) as the stored value of ``defn``; None when blank.

    Raises :class:`FieldProblem` when the value does not fit the field's kind. Whether a
    blank is allowed is :func:`clean_values`' question (it knows whether the field must be
    filled in).
    """
    if _is_blank(raw):
        return None
    kind = defn.kind
    if kind is FieldKind.TEXT:
        if not isinstance(raw, str):
            raise _problem(defn, "not_text", "give text", "请填写文字")
        text = raw.strip()
        if len(text) > MAX_TEXT:
            raise _problem(defn, "too_long", f"at most {MAX_TEXT} characters",
                           f"最多 {MAX_TEXT} 个字")  # fmt: skip
        return text
    if kind is FieldKind.NUMBER:
        return _number(defn, raw)
    if kind is FieldKind.DATE:
        return _date(defn, raw)
    if kind is FieldKind.CHOICE:
        codes = [x.code for x in defn.options]
        if not isinstance(raw, str) or raw.strip() not in codes:
            listed = ", ".join(codes)
            raise _problem(defn, "not_an_option", f"choose one of: {listed}",
                           f"请从以下选项中选择：{listed}")  # fmt: skip
        return raw.strip()
    return _yes_no(defn, raw)


def _number(defn: FieldDefinition, raw: object) -> int:
    value: int | None = None
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif isinstance(raw, str):
        text = raw.strip().replace(",", "")
        body = text[1:] if text[:1] in "+-" else text
        if body.isascii() and body.isdigit():
            value = int(text)
    if value is None:
        raise _problem(defn, "not_a_number", "give a whole number, e.g. 42", "请填写整数，例如 42")
    if abs(value) > NUMBER_LIMIT:
        raise _problem(defn, "number_too_large", f"give a number within ±{NUMBER_LIMIT}",
                       f"数字应在 ±{NUMBER_LIMIT} 以内")  # fmt: skip
    return value


def _date(defn: FieldDefinition, raw: object) -> str:
    if isinstance(raw, date):
        return raw.isoformat()
    if isinstance(raw, str):
        try:
            return date.fromisoformat(raw.strip()).isoformat()
        except ValueError:
            pass
    raise _problem(defn, "not_a_date", "give a date as YYYY-MM-DD, e.g. 2026-03-01",
                   "请按 年-月-日 填写日期，例如 2026-03-01")  # fmt: skip


YES = frozenset({"yes", "true", "1", "on", "是"})
NO = frozenset({"no", "false", "0", "off", "否"})


def _yes_no(defn: FieldDefinition, raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in YES | NO:
        return raw.strip().lower() in YES
    raise _problem(defn, "not_yes_no", "answer yes or no", "请选择 是 或 否")


def _required(defn: FieldDefinition) -> FieldProblem:
    return _problem(defn, "required", "this field is required; fill it in", "此项必填，请填写")


def unknown_field(key: str) -> FieldProblem:
    """The problem of a value for a field the chain does not define (or the caller may not
    see)."""
    return FieldProblem(
        key,
        "unknown_field",
        f"{key}: the chain defines no such custom field; ask HQ to add it or leave it out",
        f"{key}：没有这个自定义字段，请联系总部添加，或不填此项",
    )


def check_values(
    definitions: Iterable[FieldDefinition],
    raw: Mapping[str, object],
    *,
    complete: bool,
    manager: bool,
) -> tuple[dict[str, CustomValue | None], list[FieldProblem]]:
    """Every value of ``raw`` cleaned against its field, and every problem found.

    ``definitions`` are the chain's active fields. ``complete``: ``raw`` is the whole set of
    values (a registration), so each required field the caller sees must be filled in;
    otherwise (a change) only the keys given are checked, and a required one may not be
    blanked. ``manager``: the caller sees manager-only fields; anyone else giving one gets
    ``unknown_field`` (they may not know it exists). A blank value is returned as None
    ("clear it").
    """
    defs = {d.key: d for d in definitions if d.visible_to(manager)}
    cleaned: dict[str, CustomValue | None] = {}
    problems: list[FieldProblem] = []
    for key, value in raw.items():
        defn = defs.get(key)
        if defn is None:
            problems.append(unknown_field(key))
            continue
        try:
            cleaned[key] = clean_value(defn, value)
        except FieldProblem as exc:
            problems.append(exc)
            continue
        if cleaned[key] is None and defn.required:
            problems.append(_required(defn))
    if complete:
        problems.extend(_required(d) for d in defs.values() if d.required and d.key not in raw)
    return cleaned, problems


def clean_values(
    definitions: Iterable[FieldDefinition],
    raw: Mapping[str, object],
    *,
    complete: bool,
    manager: bool,
) -> dict[str, CustomValue | None]:
    """:func:`check_values`, raising its first problem."""
    cleaned, problems = check_values(definitions, raw, complete=complete, manager=manager)
    if problems:
        raise problems[0]
    return cleaned


def change_problem(
    old: FieldDefinition, new: FieldDefinition, stored: Collection[CustomValue]
) -> FieldProblem | None:
    """Why replacing ``old`` with ``new`` would lose or garble ``stored`` (the values members
    hold for the field), or None when it is safe. A kind change is refused while any member
    has a value; a choice may not drop an option a member holds. Labels, required and
    visibility may always change."""
    if old.key != new.key:
        return FieldProblem(old.key, "key_change", "a field's key cannot change; add a new field",
                            "字段的键不能修改，请新建字段")  # fmt: skip
    if stored and new.kind is not old.kind:
        n = len(stored)
        return _problem(
            old,
            "kind_in_use",
            f"{n} member(s) hold a value, so the type cannot change from {old.kind.value} to "
            f"{new.kind.value}; add a new field instead (or remove this one: values are kept)",
            f"已有 {n} 位会员填写了此项，不能从 {old.kind.value} 改为 {new.kind.value}；"
            "请新建字段（或移除此字段：已填的值会保留）",
        )
    if new.kind is FieldKind.CHOICE:
        kept = {x.code for x in new.options}
        dropped = sorted({str(v) for v in stored} - kept)
        if dropped:
            listed = ", ".join(dropped)
            return _problem(
                old,
                "option_in_use",
                f"members hold the option(s) {listed}; keep them (change their words instead)",
                f"已有会员选了 {listed}，不能删除这些选项（可以修改其文字）",
            )
    return None
