"""Clock sanity per meter: a device whose clock (or time zone) is off must not move its minutes silently.

A sample stamped more than :data:`MAX_AHEAD_S` after it arrived cannot be a measurement yet: it is refused as
``future`` (device/sources/reader.py), with the offset and the fix. A clock steadily a whole number of hours behind
is taken (a broker's backlog is legitimately late) but named once per meter as a probable time-zone error
(:class:`ClockWatch`). The usual cause is a device keeping its own zone, e.g. Tasmota's default ``Timezone 1``, a
fixed UTC+1, in a house on another zone: its source then takes ``timezone = "Etc/GMT-1"`` (the tz database's
``Etc/GMT`` signs are inverted: ``Etc/GMT-1`` is UTC+1).
"""

from __future__ import annotations

from dataclasses import dataclass

from device.clock import HouseholdTime

#: How far past its arrival a sample's stamp may be (a clock drifting by seconds, a meter's NTP step).
MAX_AHEAD_S = 120.0
#: How close to a whole number of hours an offset must be to read as a time-zone error.
WHOLE_HOUR_SLACK_S = 120.0
#: Samples in a row, over at least :data:`STEADY_SPAN_S` of arrivals, at one whole-hour offset before it is named
#: (a broker's backlog arrives in a burst, not steadily an hour late).
STEADY_SAMPLES = 5
STEADY_SPAN_S = 60.0


def whole_hours(offset_s: float) -> int:
    """The whole number of hours ``offset_s`` is (within :data:`WHOLE_HOUR_SLACK_S`), 0 if it is not one."""
    hours = round(offset_s / 3600)
    return hours if hours and abs(offset_s - hours * 3600) <= WHOLE_HOUR_SLACK_S else 0


def etc_zone(offset_hours: int) -> str:
    """The tz database's fixed zone of a UTC offset in hours (``Etc/GMT-1`` is UTC+1: its sign is inverted)."""
    return "Etc/GMT" if offset_hours == 0 else f"Etc/GMT{-offset_hours:+d}"


def clock_advice(meter: str, offset_s: float, zone: HouseholdTime, at_s: float) -> str:
    """What is wrong with ``meter``'s clock, stamped ``offset_s`` from its arrival at ``at_s``, and the fix."""
    said = f"meter {meter} stamped {offset_s:+.0f} s from its arrival, read in {zone.name}"
    hours = whole_hours(offset_s)
    if not hours:
        return f"{said}: set its clock right (NTP), or declare its zone as below if it keeps another"
    device_hours = zone.offset_s(at_s) // 3600 + hours
    return (
        f"{said}: a whole {abs(hours)} h, probably a time zone error: the device keeps another zone than the "
        f'household\'s; give its source its own, timezone = "{etc_zone(device_hours)}" (or its IANA name) in its '
        "[[source]] table of --config (Tasmota's default Timezone 1 is a fixed UTC+1)"
    )


@dataclass
class _Streak:
    hours: int
    since_s: float
    samples: int = 1
    named: bool = False


class ClockWatch:
    """Names, once per meter, a clock steadily a whole number of hours behind its arrival times. Memory: one small
    entry per meter with a stamped clock, bounded by ``max_meters``."""

    def __init__(self, max_meters: int = 10_000) -> None:
        self.max_meters = max_meters
        self._streaks: dict[str, _Streak] = {}

    def observe(self, meter: str, offset_s: float, arrival_s: float, zone: HouseholdTime) -> str | None:
        """The log line to write when ``meter``'s offset has just become a steady whole-hour one, else None."""
        hours = whole_hours(offset_s) if offset_s < -WHOLE_HOUR_SLACK_S else 0
        streak = self._streaks.get(meter)
        if streak is None or streak.hours != hours:
            if streak is None and not hours:
                return None  # the usual case: a right clock, nothing kept
            if len(self._streaks) >= self.max_meters and meter not in self._streaks:
                del self._streaks[next(iter(self._streaks))]
            self._streaks[meter] = _Streak(hours, arrival_s)
            return None
        streak.samples += 1
        if streak.named or not hours or streak.samples < STEADY_SAMPLES or arrival_s - streak.since_s < STEADY_SPAN_S:
            return None
        streak.named = True
        return clock_advice(meter, offset_s, zone, arrival_s)
