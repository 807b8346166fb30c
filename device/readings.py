"""A reading as the agent takes it (one meter, one whole UTC minute, its measurements), the reason a message was not
taken (:class:`Rejected`, its reasons declared once in :data:`REASONS`), and the physical limits past which a value is
a fault: what every source's messages become, whichever dialect they were in.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cached_property

import numpy as np

from device.clock import HouseholdTime
from device.contract import MEASUREMENTS

_EPOCH = datetime(1970, 1, 1)
METER_ID = re.compile(r"[A-Za-z0-9_.-]{1,64}")


@dataclass(frozen=True)
class Reading:
    """One meter reading: whole UTC minutes since 1970-01-01 and the raw measurements, NaN where the meter sent
    null."""

    meter: str
    minute: int
    values: np.ndarray  # float64, in MEASUREMENTS order
    #: No sample fell inside this minute: the resampler held the value of an earlier one (a meter slower than a
    #: minute), so the stream counts it as filled, like an absent minute, not as a measurement.
    held: bool = False

    @property
    def ts(self) -> str:
        return format_minute(self.minute)


#: Every reason a message is not taken, and what it means: the metrics count them by these names (per source, and
#: summed), the log names the meter, and docs/meters.md lists them.
REASONS = {
    "bad_topic": "a topic no configured source reads",
    "retained": "delivered from the broker's retained store (at subscribe time): of unknown age, never a measured "
    "minute (a dead node's last value, DSMR-reader's always-retained telegram)",
    "bad_meter_id": f"the meter id from the topic does not match {METER_ID.pattern}",
    "meter_id_clash": "another source published this meter id first",
    "too_large": "the payload is larger than --max-payload-bytes",
    "not_utf8": "the payload is not UTF-8",
    "not_json": "the payload is not JSON",
    "not_an_object": "the payload is JSON but not an object",
    "not_a_status": "a Shelly Gen2 message that is not a status notification",
    "not_a_reading": "a topic of the project under the source's subscription that is no device's state "
    "(Zigbee2MQTT's bridge/..., <name>/set, /get, /availability)",
    "own_output": "the agent's own output mirrored back (a topic under devices/<agent_id>/ or its discovery "
    "configs, a Home Assistant entity wattcast_... streamed by statestream, a discovery config whose unique_id is "
    "wattcast_...): never a meter",
    "no_unit": "a plain number whose unit is not known yet: Home Assistant statestream before the sensor's "
    "unit_of_measurement attribute (publish_attributes: true), and no unit declared for the source",
    "not_power": "a message on the source's topic carrying something other than power: another ESPHome sensor than "
    "the source's field, an emonhub input that is not a power (E1, V1, T1, MSG), a Shelly Gen1 topic other than "
    "emeter/relay/light power, a Home Assistant sensor (statestream, or a discovery config) whose device_class is not "
    "power or unit not W/kW",
    "unsupported_template": "a Home Assistant discovery config of a power sensor whose value_template is more than "
    "selecting a value ({{ value_json.<path> }}, {{ value_json['key'] }}, {{ value }}, each optionally | float): "
    "never evaluated, its states are not read (the log names the sensor and its template)",
    "not_discovered": "a message on the ha-discovery source's state topics that no discovery config declared as a "
    "sensor's state_topic (yet): a device without discovery, or its config not seen",
    "no_power": "no power value where the source's profile (or --source field) says it is",
    "no_returned": "a DSMR-reader telegram without the returned power",
    "bad_value": "a value that is not a number, a numeric string or a missing-value word",
    "bad_ts": "a timestamp that is not ISO 8601 or epoch seconds",
    "ts_out_of_range": "a timestamp before --earliest-ts or more than --max-ahead-minutes ahead",
    "future": "a sample stamped more than 2 minutes after it arrived: its clock or time zone is wrong (the log says "
    "the offset and the source's timezone to declare)",
    "out_of_range": "a value outside the plausible physical range (ReadingLimits)",
}


@dataclass(frozen=True)
class Rejected:
    """Why a message was not taken: one of :data:`REASONS`, and a short detail for the log."""

    reason: str
    detail: str = ""

    def __post_init__(self) -> None:
        if self.reason not in REASONS:
            raise ValueError(f"undeclared rejection reason {self.reason!r}: add it to device.readings.REASONS")


def format_minute(minute: int) -> str:
    """``2007-04-22T00:00:00`` for a whole UTC minute: the agent's outputs are UTC, written without a zone as
    readings have always been."""
    return (_EPOCH + timedelta(minutes=int(minute))).isoformat()


def parse_time(ts: object, household: HouseholdTime | None = None, arrival_s: float | None = None) -> float | None:
    """Seconds since the epoch (UTC) of a timestamp, None if it is not one. An ISO time with an offset or ``Z`` is
    honoured; a naive one is wall clock in ``household``'s zone (UTC when None); a number is epoch seconds."""
    if isinstance(ts, (int, float)) and not isinstance(ts, bool):
        return float(ts) if math.isfinite(ts) else None
    if not isinstance(ts, str):
        return None
    try:
        when = datetime.fromisoformat(ts)
    except ValueError:
        return None
    if when.tzinfo is not None:
        return when.timestamp()
    if household is not None:
        return household.naive_to_utc_s(when, arrival_s)
    return (when - _EPOCH).total_seconds()


def parse_minute(ts: object, household: HouseholdTime | None = None, arrival_s: float | None = None) -> int | None:
    """Whole UTC minutes since the epoch (seconds floored), None if ``ts`` is not a time (see :func:`parse_time`)."""
    seconds = parse_time(ts, household, arrival_s)
    return None if seconds is None else int(seconds // 60)


@dataclass(frozen=True)
class ReadingLimits:
    """Plausible physical bounds of a household reading; outside them a value is a fault, not a measurement.

    Defaults are generous for any household connection, not tuned to the UCI house (whose maxima are 11.1 kW,
    1.4 kvar, 254 V, 48 A and 88 Wh per minute):
    - power (``gap``, ``grp``), 0 to 50 kW / kvar: the largest residential supplies (3 x 63 A at 230 V) give 43 kW.
      The lower bound is 0 because the models are trained on consumption; a meter that exports solar power would
      need a negative bound, which is not an option yet.
    - ``v``, 0 to 500 V: covers 400 V line-to-line; 0 is a power cut, still a valid reading.
    - ``gi``, 0 to 250 A: above any household main fuse.
    - sub-meters (``sm1..sm3``), 0 to 1,000 Wh in the minute: 50 kW for one minute is 833 Wh, and a sub-meter
      cannot draw more than the whole house.
    - ``ts`` from ``earliest_ts`` (default 2000-01-01, so replays of the 2006-2010 data pass) to
      ``max_ahead_minutes`` (default a day, covering any time zone and a drifting clock) past the agent's UTC clock.
    """

    max_power_kw: float = 50.0
    max_voltage_v: float = 500.0
    max_current_a: float = 250.0
    max_submeter_wh: float = 1000.0
    earliest_ts: str = "2000-01-01T00:00:00"
    max_ahead_minutes: int = 1440

    def __post_init__(self) -> None:
        if parse_minute(self.earliest_ts) is None:
            raise ValueError(f"earliest_ts must be an ISO timestamp, got {self.earliest_ts!r}")

    @cached_property
    def upper(self) -> np.ndarray:
        """The largest plausible value of each measurement, in MEASUREMENTS order (the lower bound is 0)."""
        by_name = {
            "gap": self.max_power_kw,
            "grp": self.max_power_kw,
            "v": self.max_voltage_v,
            "gi": self.max_current_a,
            "sm1": self.max_submeter_wh,
            "sm2": self.max_submeter_wh,
            "sm3": self.max_submeter_wh,
        }
        return np.array([by_name[name] for name in MEASUREMENTS], np.float64)

    @cached_property
    def earliest_minute(self) -> int:
        return parse_minute(self.earliest_ts)  # type: ignore[return-value]  # checked in __post_init__

    def latest_minute(self, now_s: float | None = None) -> int:
        """The newest acceptable minute: ``max_ahead_minutes`` past ``now_s`` (default: the wall clock)."""
        return int((time.time() if now_s is None else now_s) // 60) + self.max_ahead_minutes


DEFAULT_LIMITS = ReadingLimits()
