"""Turning an MQTT message into a validated reading, or into the reason it was rejected.

Bad input must never stop the agent, so this module never raises: every message becomes a :class:`Reading` or a
:class:`Rejected` with a short reason that the metrics count (``rejected: {reason: count}``).
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from device.contract import MEASUREMENTS

_EPOCH = datetime(1970, 1, 1)
_METER_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass(frozen=True)
class Reading:
    """One meter reading: whole minutes since 1970-01-01 (the meter's wall clock) and the raw measurements, NaN
    where the meter sent null."""

    meter: str
    minute: int
    values: np.ndarray  # float64, in MEASUREMENTS order

    @property
    def ts(self) -> str:
        return format_minute(self.minute)


@dataclass(frozen=True)
class Rejected:
    reason: str
    detail: str = ""


def format_minute(minute: int) -> str:
    """``2007-04-22T00:00:00`` for a whole-minute stamp, the format readings arrive in."""
    return str(np.datetime64(int(minute), "m").astype("datetime64[s]"))


def parse_minute(ts: object) -> int | None:
    """Whole minutes since the epoch from an ISO timestamp (seconds are floored), None if it is not one."""
    if not isinstance(ts, str):
        return None
    try:
        when = datetime.fromisoformat(ts).replace(tzinfo=None)
    except ValueError:
        return None
    return int((when - _EPOCH).total_seconds() // 60)


def meter_of(topic: str, prefix: str) -> str | None:
    """The meter id of ``<prefix>/<meter_id>/reading``, None for any other topic."""
    parts = topic.split("/")
    if len(parts) != 3 or parts[0] != prefix or parts[2] != "reading" or not _METER_ID.fullmatch(parts[1]):
        return None
    return parts[1]


def _measurement(body: dict, name: str) -> float | None:
    """The value as float (NaN for null or absent), None when it has a wrong type or is infinite."""
    value = body.get(name)
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return None if math.isinf(value) else value


def parse_reading(topic: str, payload: bytes, prefix: str, max_bytes: int) -> Reading | Rejected:
    """Validate one message from ``<prefix>/<meter_id>/reading``."""
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
    minute = parse_minute(body.get("ts"))
    if minute is None:
        return Rejected("bad_ts", repr(body.get("ts"))[:80])
    values = [_measurement(body, name) for name in MEASUREMENTS]
    if any(v is None for v in values):
        bad = [name for name, v in zip(MEASUREMENTS, values) if v is None]
        return Rejected("bad_value", f"{bad}")
    return Reading(meter, minute, np.array(values, np.float64))
