"""The station tools' errors; each says what to do next."""

from device.errors import DeviceError


class StationToolError(DeviceError):
    """A firmware build, type check or enrolment step failed."""

    code = "station_tool_error"
