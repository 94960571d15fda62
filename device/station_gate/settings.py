"""Which door stations a kiosk accepts: ids, rooms and keys (the ``[stations]`` section).

[stations]
port = 8470

[[stations.enrolled]]
station_id = "st-studio-a"
room = "studio-a"
key = "<64 hex digits>"      # tapfleet station enroll writes it here and on the board
"""

from __future__ import annotations

import re
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from shared.model import Id

KEY_HEX = re.compile(r"^[0-9a-fA-F]{64}$")


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class StationEnrollment(_Section):
    """One door station this kiosk accepts taps from."""

    station_id: Id = Field(description="The station's id (its config.json says the same).")
    room: Id | None = Field(
        None,
        description="The room the station's door leads to: its taps sign students in to the "
        "classes held there (ClassSession.room). None: any class of the store, like the "
        "kiosk's own reader (a station at the store's entrance).",
    )
    key: SecretStr = Field(
        description="The station's HMAC-SHA256 key, 64 hex digits, shared with the station "
        "only (`tapfleet station enroll` generates it and writes both configs). Never shown "
        "in logs or reprs."
    )

    @property
    def key_bytes(self) -> bytes:
        """The key as bytes."""
        return bytes.fromhex(self.key.get_secret_value())

    @field_validator("key")
    @classmethod
    def _hex_and_random(cls, value: SecretStr) -> SecretStr:
        key = value.get_secret_value()
        if not KEY_HEX.match(key):
            raise ValueError("a station key is 64 hex digits (`tapfleet station enroll` makes one)")
        if len(set(key.lower())) < 4:
            raise ValueError(
                "this station key is not random; generate one with `tapfleet station enroll`"
            )
        return value


class StationGateSettings(_Section):
    """The LAN endpoint door stations talk to."""

    host: str = Field(
        "0.0.0.0",
        min_length=1,
        description="Address the station endpoint listens on: the store LAN, where the "
        "stations are (it serves only the signed station routes; the touchscreen UI stays "
        "on ui.host).",
    )
    port: int = Field(8470, ge=0, le=65535, description="Station endpoint port; 0 picks one.")
    enrolled: tuple[StationEnrollment, ...] = Field(
        (), max_length=64, description="The stations this kiosk accepts; none: no endpoint."
    )

    @model_validator(mode="after")
    def _unique(self) -> Self:
        ids = [s.station_id for s in self.enrolled]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"stations enrolled twice: {', '.join(twice)}")
        return self
