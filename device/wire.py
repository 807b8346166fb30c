"""The wattcast wire format: a reading encoded as an MQTT message (the simulator's side) and a message parsed into a
validated :class:`~device.readings.Reading`, or into the reason it was rejected (the agent's side), in one place so
the two cannot drift.

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

import numpy as np

from device.clock import HouseholdTime
from device.contract import MEASUREMENTS
from device.readings import DEFAULT_LIMITS, METER_ID, Reading, ReadingLimits, Rejected, parse_minute

DEFAULT_PREFIX = "meter"


def meter_of(topic: str, prefix: str) -> str | None:
    """The meter id of ``<prefix>/<meter_id>/reading`` (``prefix`` may have several levels, e.g. a partition's
    ``part/3/meter``), None for any other topic."""
    if not topic.startswith(prefix + "/"):
        return None
    parts = topic[len(prefix) + 1 :].split("/")
    if len(parts) != 2 or parts[1] != "reading" or not METER_ID.fullmatch(parts[0]):
        return None
    return parts[0]


def _measurement(body: dict, name: str) -> float | None:
    """The value as float (NaN for null or absent), None when it has a wrong type or is infinite."""
    value = body.get(name)
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return None if math.isinf(value) else value


def parse_reading(
    topic: str,
    payload: bytes,
    prefix: str,
    max_bytes: int,
    limits: ReadingLimits = DEFAULT_LIMITS,
    now_s: float | None = None,
    household: HouseholdTime | None = None,
) -> Reading | Rejected:
    """Validate one message from ``<prefix>/<meter_id>/reading``; ``now_s`` (default: the wall clock) is the time
    the timestamp window of ``limits`` is measured from; a ``ts`` without offset is read in ``household``'s zone
    (UTC when None)."""
    meter = meter_of(topic, prefix)
    if meter is None:
        return Rejected("bad_topic", topic[:100])
    if len(payload) > max_bytes:
        return Rejected("too_large", f"{len(payload)} bytes")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return Rejected("not_utf8")
    try:
        body = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return Rejected("not_json", text[:80])
    if not isinstance(body, dict):
        return Rejected("not_an_object", text[:80])
    minute = parse_minute(body.get("ts"), household, now_s)
    if minute is None:
        return Rejected("bad_ts", repr(body.get("ts"))[:80])
    if not limits.earliest_minute <= minute <= limits.latest_minute(now_s):
        return Rejected("ts_out_of_range", str(body["ts"])[:80])
    values = [_measurement(body, name) for name in MEASUREMENTS]
    if any(v is None for v in values):
        bad = [name for name, v in zip(MEASUREMENTS, values) if v is None]
        return Rejected("bad_value", f"{bad}")
    array = np.array(values, np.float64)
    outside = (array < 0) | (array > limits.upper)  # NaN (a missing value) compares False: it is not a fault
    if outside.any():
        return Rejected(
            "out_of_range",
            ", ".join(f"{name}={v!r}" for name, v, out in zip(MEASUREMENTS, values, outside) if out)[:80],
        )
    return Reading(meter, minute, array)


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
