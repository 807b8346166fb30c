"""The household's time zone: UTC inside, local time only where the models need it.

Every minute the agent stores, dedupes and publishes is a UTC minute, so a DST change can make no gap and no
duplicate. Two things need the household's zone: a timestamp without an offset (Tasmota's ``Time`` is local wall
clock) is read in it, and the calendar features (hour and weekday) are computed in it, because the training data
(the UCI house, near Paris) was recorded in French local time.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np

log = logging.getLogger(__name__)
_UTC_NAMES = {"UTC", "Etc/UTC", "Etc/GMT", "GMT", "Z"}
#: An ambiguous wall-clock time (the repeated hour in autumn) is resolved by its arrival time only when that is
#: this close: a live meter then lands on the right hour, a replay of old data keeps the first reading.
_NEAR_ARRIVAL_S = 3 * 3600
#: Offsets change on whole quarter hours in every zone of the tz database.
_BLOCK_MIN = 15


def machine_zone_name() -> str:
    """The machine's IANA zone: ``$TZ``, else the target of ``/etc/localtime``, else ``/etc/timezone``, else UTC."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    localtime = Path("/etc/localtime")
    if localtime.is_symlink():
        candidates.append(str(localtime.resolve()).partition("zoneinfo/")[2])
    timezone_file = Path("/etc/timezone")
    if timezone_file.is_file():
        candidates.append(timezone_file.read_text().strip())
    for name in candidates:
        if name:
            try:
                ZoneInfo(name)
                return name
            except (ZoneInfoNotFoundError, ValueError):
                continue
    log.warning("could not tell this machine's time zone; using UTC (set --timezone)")
    return "UTC"


class HouseholdTime:
    """Conversions between UTC and the household's wall clock, in one IANA zone."""

    def __init__(self, zone_name: str = "") -> None:
        self.name = zone_name or machine_zone_name()
        try:
            self.zone = ZoneInfo(self.name)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"unknown time zone {self.name!r}: give an IANA name such as Europe/Paris or UTC"
            ) from None
        self.is_utc = self.name in _UTC_NAMES

    def offset_s(self, utc_s: float) -> int:
        """The zone's offset from UTC at that instant, in seconds."""
        if self.is_utc:
            return 0
        return int(datetime.fromtimestamp(utc_s, self.zone).utcoffset().total_seconds())  # type: ignore[union-attr]

    def naive_to_utc_s(self, wall: datetime, arrival_s: float | None = None) -> float:
        """Seconds since the epoch (UTC) of a wall-clock time without offset, read in this zone. In the repeated
        autumn hour the occurrence nearer the arrival time wins (when it arrived within hours); otherwise, and in
        the skipped spring hour, the offset before the change applies."""
        if self.is_utc:
            return wall.replace(tzinfo=UTC).timestamp()
        first = wall.replace(tzinfo=self.zone, fold=0).timestamp()
        second = wall.replace(tzinfo=self.zone, fold=1).timestamp()
        if first == second or arrival_s is None or first > second:
            return first
        if min(abs(arrival_s - first), abs(arrival_s - second)) > _NEAR_ARRIVAL_S:
            return first
        return first if abs(arrival_s - first) <= abs(arrival_s - second) else second

    def local_minutes(self, utc_minutes: np.ndarray) -> np.ndarray:
        """Local wall-clock minutes (minutes since 1970-01-01 on the household's clock) of ascending UTC minutes,
        for the calendar features; cheap when no offset change falls inside (one lookup at each end)."""
        minutes = np.asarray(utc_minutes, np.int64)
        if self.is_utc or not len(minutes):
            return minutes
        first, last = int(minutes[0]), int(minutes[-1])
        start_offset = self.offset_s(first * 60) // 60
        if start_offset == self.offset_s(last * 60) // 60 and last - first < _BLOCK_MIN * 96 * 7:
            return minutes + start_offset
        blocks, index = np.unique(minutes // _BLOCK_MIN, return_inverse=True)
        offsets = np.array([self.offset_s(int(b) * _BLOCK_MIN * 60) // 60 for b in blocks], np.int64)
        return minutes + offsets[index]
