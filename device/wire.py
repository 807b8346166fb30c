"""The wattcast wire format: a reading encoded as an MQTT message (the simulator's side) and a message parsed into a
validated :class:`~device.readings.Reading`, or into the reason it was rejected (the agent's side), in one place so
the two cannot drift. Parsing goes the route every meter dialect takes (device/sources/): this module says what the
format is, the ``wattcast`` profile reads it.

``meter/<meter_id>/reading`` carries ``{"ts": "2007-04-22T00:00:00", "gap": 0.504, ..., "sm3": 0.0}`` with every
measurement of :data:`device.contract.MEASUREMENTS` and ``null`` where the file had ``?``, so the device meets the
real outages instead of a cleaned-up stream.

Bad input must never stop the agent, so this module never raises: every message becomes a Reading or a Rejected with
a short reason that the metrics count. Well-formed but physically absurd readings are rejected too
(:class:`~device.readings.ReadingLimits`): a negative power would poison a meter's window and its online score, and a
far-future timestamp would make every later real reading of that meter "late".
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from device.contract import MEASUREMENTS
from device.readings import ReadingLimits, Rejected

DEFAULT_PREFIX = "meter"


@dataclass(frozen=True)
class Measurements:
    """A wattcast reading's body: every measurement of one whole minute, as the meter sent them (the profile decoder's
    value for the wattcast format, where other dialects send one power sample)."""

    body: dict[str, object]

    def values(self, limits: ReadingLimits) -> np.ndarray | Rejected:
        """The measurements in :data:`MEASUREMENTS` order (NaN where null or absent), or why they are not a reading:
        a value of the wrong type, or outside ``limits`` (a missing value is not a fault)."""
        values = [_measurement(self.body, name) for name in MEASUREMENTS]
        if any(v is None for v in values):
            return Rejected("bad_value", f"{[name for name, v in zip(MEASUREMENTS, values) if v is None]}")
        array = np.array(values, np.float64)
        outside = (array < 0) | (array > limits.upper)  # NaN (a missing value) compares False
        if outside.any():
            shown = ", ".join(f"{name}={v!r}" for name, v, out in zip(MEASUREMENTS, values, outside) if out)
            return Rejected("out_of_range", shown[:80])
        return array


def _measurement(body: dict[str, object], name: str) -> float | None:
    """The value as float (NaN for null or absent), None when it has a wrong type or is infinite."""
    value = body.get(name)
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return None if math.isinf(number) else number


def reading_topic(meter_id: str, prefix: str = DEFAULT_PREFIX) -> str:
    """The topic one meter publishes its readings on."""
    return f"{prefix}/{meter_id}/reading"


def timestamps(minutes_since_epoch: np.ndarray) -> np.ndarray:
    """ISO timestamps (``2007-04-22T00:00:00``, no zone: the agent reads them in its ``--timezone``) for
    whole-minute stamps, vectorised because a fleet replay formats millions of them."""
    return np.datetime_as_string(np.asarray(minutes_since_epoch, np.int64).astype("datetime64[m]"), unit="s")


def encode_reading(ts: str, values: Mapping[str, float]) -> bytes:
    """The JSON payload of one reading; NaN (missing) becomes ``null``."""
    body: dict[str, str | float | None] = {"ts": ts}
    for name in MEASUREMENTS:
        value = float(values[name])
        body[name] = None if math.isnan(value) else value
    return json.dumps(body, separators=(",", ":")).encode()
