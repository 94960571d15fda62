"""Where a process's settings come from and which source wins: one rule for every process.

The kiosk (:class:`device.settings.KioskSettings`) and the coordinator
(:class:`coordinator.settings.CoordinatorSettings`) both derive from
:class:`LayeredSettings`, so both read their settings the same way. Highest first:

1. values given in code: command-line flags (``tapfleet coordinator --db ...``) and
   constructor keyword arguments;
2. environment variables, ``TAPFLEET_KIOSK_<FIELD>`` / ``TAPFLEET_COORD_<FIELD>``, nested
   fields joined with ``__`` (``TAPFLEET_KIOSK_LINK__HOST``);
3. the config file (``--config``: TOML, or JSON by its suffix);
4. the defaults written in the settings class.

Sections merge field by field: ``TAPFLEET_KIOSK_LINK__PORT`` replaces the file's
``[link] port`` and keeps its ``[link] host``. No ``.env`` files, no secrets directory.

It lives in ``shared/`` because it is the one package both processes install. Reading
the config file is its only IO, and happens only when a process asks for its settings.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Self

from pydantic import ValidationError
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from shared.errors import TapfleetError

_FILE_VALUES: ContextVar[Mapping[str, Any] | None] = ContextVar(
    "tapfleet_config_file_values", default=None
)


class ConfigFileError(TapfleetError):
    """A config file is missing, unreadable or not valid TOML/JSON."""

    code = "config_file_error"


class ConfigFileSource(PydanticBaseSettingsSource):
    """The config file's values, as given to :meth:`LayeredSettings.load` (below the env)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        """Unused: :meth:`__call__` hands over the whole mapping at once."""
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        return dict(_FILE_VALUES.get() or {})


@contextmanager
def _file_values(values: Mapping[str, Any]) -> Iterator[None]:
    token = _FILE_VALUES.set(values)
    try:
        yield
    finally:
        _FILE_VALUES.reset(token)


class LayeredSettings(BaseSettings):
    """Base of a process's settings: code > environment > config file > defaults."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Given values, then the environment, then the config file (then the defaults)."""
        return (init_settings, env_settings, ConfigFileSource(settings_cls))

    @classmethod
    def load(
        cls,
        file_values: Mapping[str, Any] | None = None,
        overrides: Mapping[str, Any] | None = None,
    ) -> Self:
        """Settings from ``overrides``, the environment, ``file_values``, the defaults.

        Raises pydantic's ValidationError (see :func:`describe_problems`) or
        ``pydantic_settings.SettingsError`` (an environment variable that is not valid JSON
        for a section).
        """
        with _file_values(file_values or {}):
            return cls(**(overrides or {}))


def read_config_file(path: Path) -> dict[str, Any]:
    """The mapping in a ``.toml`` (or ``.json``) file; ConfigFileError saying what to do."""
    kind = "JSON" if path.suffix.lower() == ".json" else "TOML"
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigFileError(
            f"cannot read config file {path}: {exc.strerror or exc} (fix the --config path)"
        ) from exc
    try:
        data = json.loads(text) if kind == "JSON" else tomllib.loads(text)
    except ValueError as exc:  # tomllib.TOMLDecodeError and json.JSONDecodeError
        raise ConfigFileError(f"config file {path} is not valid {kind}: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigFileError(f"config file {path} must hold a table of settings")
    return data


def environment_variable(env_prefix: str, loc: tuple[int | str, ...]) -> str:
    """The environment variable that sets the field at ``loc``."""
    return env_prefix + "__".join(str(part) for part in loc).upper()


def describe_problems(exc: ValidationError, env_prefix: str) -> str:
    """Every problem of a settings ValidationError on one line, each naming its field."""
    problems = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        field = ".".join(str(part) for part in loc)
        message = str(err["msg"]).removeprefix("Value error, ")
        if not field:
            problems.append(message)  # a model validator names its fields itself
        elif err["type"] == "extra_forbidden":
            problems.append(f"{field}: not a setting (remove it, or correct its spelling)")
        elif err["type"] == "missing":
            where = environment_variable(env_prefix, loc)
            problems.append(f"{field}: required (set it in the config file or as {where})")
        else:
            where = environment_variable(env_prefix, loc)
            problems.append(f"{field}: {message} (set in the config file or as {where})")
    return "; ".join(" ".join(problem.split()) for problem in problems)  # one line
