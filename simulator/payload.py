"""The one place a meter reading becomes an MQTT message: topic and JSON payload, as the device agent parses them.

``meter/<meter_id>/reading`` carries ``{"ts": "2007-04-22T00:00:00", "gap": 0.504, ..., "sm3": 0.0}`` with every
measurement of :data:`device.contract.MEASUREMENTS` and ``null`` where the file had ``?``, so the device meets the
real outages instead of a cleaned-up stream.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping

import numpy as np

from device.contract import MEASUREMENTS

DEFAULT_PREFIX = "meter"


def reading_topic(meter_id: str, prefix: str = DEFAULT_PREFIX) -> str:
    """The topic one meter publishes its readings on."""
    return f"{prefix}/{meter_id}/reading"


def timestamps(minutes_since_epoch: np.ndarray) -> np.ndarray:
    """ISO timestamps (``2007-04-22T00:00:00``, local clock as in the file, no zone) for whole-minute stamps,
    vectorised because a fleet replay formats millions of them."""
    return np.datetime_as_string(np.asarray(minutes_since_epoch, np.int64).astype("datetime64[m]"), unit="s")


def encode_reading(ts: str, values: Mapping[str, float]) -> bytes:
    """The JSON payload of one reading; NaN (missing) becomes ``null``."""
    body: dict[str, str | float | None] = {"ts": ts}
    for name in MEASUREMENTS:
        value = float(values[name])
        body[name] = None if math.isnan(value) else value
    return json.dumps(body, separators=(",", ":")).encode()
