"""Meter sources: which topics the agent reads, and how a message on one becomes a reading, one route for all.

Every profile (device/sources/profiles.py: the agent's own ``wattcast`` format, Tasmota, Shelly, ESPHome, Zigbee2MQTT,
DSMR-reader, emonhub, Home Assistant statestream) goes through :meth:`SourceReader.decode`: topic to meter id, size,
the profile's decoder, units, timestamp and range checks. A ``wattcast`` message is a whole minute already and comes
out as a :class:`~device.readings.Reading`; the others send power samples at their own pace and come out as a
:class:`Sample` (kW, UTC) that device/sources/resample.py makes minutes of; anything else is a
:class:`~device.readings.Rejected`.

A unit is never guessed: a profile whose payload does not say (plain numbers) must be given one, or the agent does
not start.
"""

from __future__ import annotations

import math
import re
import time
from dataclasses import dataclass, field, fields, replace
from typing import Any, TypeVar

from device.clock import HouseholdTime
from device.readings import DEFAULT_LIMITS, METER_ID, Reading, ReadingLimits, Rejected, parse_time
from device.sources.clockcheck import MAX_AHEAD_S, clock_advice
from device.sources.discovery import DiscoveredSensors, Sensor, select
from device.sources.profiles import PROFILES, Channels, InUnit, Learnt, Net, Profile
from device.wire import DEFAULT_PREFIX, Measurements

V = TypeVar("V")
WATTCAST = "wattcast"
UNITS_PER_KW = {"W": 1000.0, "kW": 1.0}
#: State strings that mean "no value now" (Home Assistant's, ESPHome's), counted as missing values, not errors.
MISSING_WORDS = {"unavailable", "unknown", "nan", "none", "null", ""}
SOURCE_NAMES = tuple(PROFILES)
CHANNEL_MODES = ("sum", "apart")
Decoded = tuple[str, "Reading | Sample | Rejected | Learnt"]


@dataclass(frozen=True)
class Source:
    """One configured source: a profile and what the user overrides (empty: the profile's default)."""

    profile: str
    topic: str = ""  # subscription; its first ``+`` level is the meter id
    meter: str = ""  # a fixed meter id, for a topic without ``+``
    unit: str = ""  # W or kW
    field: str = ""  # JSON path of the power value (``ENERGY.Power``, ``em:0.total_act_power``, ``power``)
    #: the IANA zone its naive timestamps are in, when not --timezone (Tasmota's default fixed UTC+1: Etc/GMT-1)
    timezone: str = ""
    #: a device's several power channels: ``sum`` (one meter) or ``apart`` (a meter ``<id>.<channel>`` each); empty:
    #: the profile's default (docs/meters.md)
    channels: str = ""
    #: minutes its last value stands for real ones when it reports on change (None: the profile's, 60 for
    #: statestream, Shelly Gen2, DSMR-reader split; 0: periodic, a missed period is a filled minute)
    hold_minutes: int | None = None

    def __str__(self) -> str:
        return self.profile if self.unit == "" else f"{self.profile}:{self.unit}"

    @classmethod
    def parse(cls, spec: object) -> Source:
        """From the CLI (``tasmota``, ``esphome:W``) or a TOML table (``{profile = "esphome", unit = "W", ...}``)."""
        if isinstance(spec, Source):
            return spec
        if isinstance(spec, dict):
            unknown = set(spec) - {f.name for f in fields(cls)}
            if unknown:
                known = [f.name for f in fields(cls)]
                raise ValueError(f"source {spec}: unknown keys {sorted(unknown)}; known: {known}")
            values: dict[str, Any] = {k: int(v) if k == "hold_minutes" else str(v) for k, v in spec.items()}
            return cls(**values)
        profile, _, unit = str(spec).strip().partition(":")
        return cls(profile, unit=unit)


def topic_matches(pattern: str, topic: str) -> list[str] | None:
    """The levels matched by ``+`` (and ``#``, joined) if ``topic`` matches the MQTT filter ``pattern``, else None."""
    wild: list[str] = []
    levels = topic.split("/")
    parts = pattern.split("/")
    for i, part in enumerate(parts):
        if part == "#":
            wild.append("/".join(levels[i:]))
            return wild
        if i >= len(levels):
            return None
        if part == "+":
            wild.append(levels[i])
        elif part != levels[i]:
            return None
    return wild if len(parts) == len(levels) else None


@dataclass(frozen=True)
class Sample:
    """One power sample of one meter: UTC seconds and kW (NaN: the source said it has no value now)."""

    source: str
    meter: str
    t_s: float
    kw: float


@dataclass
class SourceReader:
    """A configured source ready to read messages: its subscription, unit and per-meter decoder state."""

    source: Source
    profile: Profile
    household: HouseholdTime
    limits: ReadingLimits
    max_bytes: int = 4096
    max_meters: int = 10_000  # decoder states kept (the oldest go first), so a flood of ids cannot grow memory
    states: dict[str, dict[str, Any]] = field(default_factory=dict)  # meter -> what the decoder keeps (Gen2's status)
    #: every subscription: the declared topic, or the profile's default ones (after its discovery filters)
    topics: tuple[str, ...] = ()
    #: the sensors Home Assistant discovery configs declared (a ``discovery`` profile only)
    discovered: DiscoveredSensors | None = None

    @classmethod
    def build(
        cls,
        source: Source,
        household: HouseholdTime,
        limits: ReadingLimits,
        max_bytes: int = 4096,
        max_meters: int = 10_000,
    ) -> SourceReader:
        """Check the source against its profile; raises ValueError with what to declare."""
        if source.profile not in PROFILES:
            raise ValueError(f"unknown source {source.profile!r}; known: {', '.join(SOURCE_NAMES)}")
        profile = PROFILES[source.profile]
        unit = source.unit or profile.unit
        if unit is None and not (profile.metadata or profile.discovery):
            raise ValueError(
                f"source {profile.name} sends plain numbers whose unit only its own configuration "
                f'knows: declare it, --source {profile.name}:W (or :kW), or unit = "W" in a [[source]] '
                "table of the TOML file"
            )
        if unit is None:  # learnt per meter from what it says of itself, else ``no_unit``
            unit = ""
        elif unit not in UNITS_PER_KW:
            raise ValueError(f"source {profile.name}: unit must be W or kW, got {unit!r}")
        topics = (source.topic,) if source.topic else (profile.topic, *profile.also)
        topics = (*profile.discovery, *(t.replace("{field}", source.field or "power") for t in topics))
        topic = topics[0]
        if not {"+", "#"} & set(topic.split("/")) and not (source.meter or profile.default_meter):
            raise ValueError(
                f"source {profile.name}: topic {topic!r} has no + level to take the meter id from; "
                'declare meter = "<id>" for it'
            )
        if source.meter and not METER_ID.fullmatch(source.meter):
            raise ValueError(f"source {profile.name}: meter id {source.meter!r} must match {METER_ID.pattern}")
        if source.hold_minutes is not None and source.hold_minutes < 0:
            raise ValueError(f"source {profile.name}: hold_minutes must be 0 or more, got {source.hold_minutes}")
        if source.channels not in ("", *CHANNEL_MODES):
            raise ValueError(f"source {profile.name}: channels must be one of {CHANNEL_MODES}, got {source.channels!r}")
        if source.timezone:
            try:
                household = HouseholdTime(source.timezone)
            except ValueError as exc:
                raise ValueError(f"source {profile.name}: {exc}") from None
        declared = replace(source, topic=topic, unit=unit)
        discovered = DiscoveredSensors(max_meters) if profile.discovery else None
        return cls(declared, profile, household, limits, max_bytes, max_meters, topics=topics, discovered=discovered)

    @property
    def name(self) -> str:
        return self.source.profile

    @property
    def hold_s(self) -> float:
        """Seconds its last value stands for real minutes (0: a periodic source)."""
        minutes = self.profile.hold_minutes if self.source.hold_minutes is None else self.source.hold_minutes
        return minutes * 60.0

    @property
    def topic(self) -> str:
        return self.source.topic

    def matches(self, topic: str) -> list[str] | None:
        """The wildcard levels of the first of :attr:`topics` that ``topic`` matches, else None."""
        for pattern in self.topics or (self.source.topic,):
            levels = topic_matches(pattern, topic)
            if levels is not None:
                return levels
        return None

    @property
    def whole_minutes(self) -> bool:
        """Whether a message is a whole minute of every measurement (the wattcast format) rather than a power sample."""
        return self.profile.whole_minutes

    def decode(self, topic: str, payload: bytes, arrival_s: float, retained: bool = False) -> Decoded:
        """The first of :meth:`decode_all` (a message of one meter, as most are)."""
        return self.decode_all(topic, payload, arrival_s, retained)[0]

    def decode_all(
        self, topic: str, payload: bytes, arrival_s: float, retained: bool = False, levels: list[str] | None = None
    ) -> list[Decoded]:
        """(meter id or the topic when there is none, a reading or sample or why not) for one message on
        :attr:`topic`: one pair, or one per channel measured when a device's channels are kept apart. A ``retained``
        message (the broker's stored copy, sent at subscribe time) is refused before decoding: its age is unknown,
        and a decoder's memory (Shelly's merged status) must not hold its value either. ``levels``: what
        :meth:`matches` gave for ``topic``, when the caller already asked (the intake routes by it)."""
        levels = self.matches(topic) if levels is None else levels
        if levels is None:
            return [(topic, Rejected("bad_topic", topic[:100]))]
        if self.discovered is not None:
            return self._decode_discovered(self.discovered, topic, payload, arrival_s, retained)
        own = re.fullmatch(self.profile.not_readings, levels[0]) if levels and self.profile.not_readings else None
        if own:  # named after the device (or bridge) it is about, for the log
            name = next(g for g in own.groups() if g).replace("/", ".")
            return [(name[:64], Rejected("not_a_reading", topic[:100]))]
        if levels and "/" in levels[0]:  # a ``#`` level: a nested name (Zigbee2MQTT's ``kitchen/plug``)
            levels[0] = levels[0].replace("/", ".")
        if self.source.meter or not levels:  # a declared id; the other + levels go to the decoder (a channel)
            meter, rest = self.source.meter or self.profile.default_meter, levels
        else:
            meter, rest = levels[0], levels[1:]
        if not METER_ID.fullmatch(meter):
            return [(topic, Rejected("bad_meter_id", f"{meter[:64]!r}: declare a meter id for this topic"))]
        if self.profile.own_entities and meter.startswith(self.profile.own_entities):
            return [(meter, Rejected("own_output", f"{meter[:64]} is a wattcast entity, never a meter"))]
        if self.profile.metadata:  # the topic's last level says what the message is (a state, an attribute)
            rest = [*rest, topic.rpartition("/")[2]]
        if retained and not (self.profile.metadata and rest[-1] in self.profile.metadata):
            return [(meter, Rejected("retained", "a stored message of unknown age, not a measurement of now"))]
        if len(payload) > self.max_bytes:
            return [(meter, Rejected("too_large", f"{len(payload)} bytes"))]
        raw = self.profile.decode(rest, payload, self._state(meter), self.source.field)
        if isinstance(raw, (Rejected, Learnt)):
            return [(meter, raw)]
        return self._measured(meter, *raw, arrival_s)

    def _decode_discovered(
        self, discovered: DiscoveredSensors, topic: str, payload: bytes, arrival_s: float, retained: bool
    ) -> list[Decoded]:
        """A discovery config (learnt, even retained: configs always are) or a state of the sensors it declared:
        a sample per power sensor on the topic, each through its own template and in its own unit."""
        for pattern in self.profile.discovery:
            levels = topic_matches(pattern, topic)
            if levels is not None:
                if len(payload) > self.max_bytes:
                    return [(topic, Rejected("too_large", f"{len(payload)} bytes"))]
                meter, learnt = discovered.learn(levels, topic, payload, self._reads_state)
                if isinstance(learnt, Sensor):
                    return [(meter, Learnt(f"power sensor on {learnt.state_topic} in {learnt.unit}"))]
                return [(meter, learnt or Learnt("removed"))]
        sensors = discovered.on(topic)
        power = [s for s in sensors if s.power and not s.unsupported]
        if not power:
            if any(s.unsupported for s in sensors):
                named = next(s for s in sensors if s.unsupported)
                return [(named.meter, Rejected("unsupported_template", named.unsupported))]
            if sensors:
                return [(sensors[0].meter, Rejected("not_power", f"no power sensor has its state on {topic[:80]}"))]
            return [(topic, Rejected("not_discovered", topic[:100]))]
        if retained:
            return [
                (s.meter, Rejected("retained", "a stored state of unknown age, not a measurement of now"))
                for s in power
            ]
        if len(payload) > self.max_bytes:
            return [(s.meter, Rejected("too_large", f"{len(payload)} bytes")) for s in power]
        try:
            text = payload.decode("utf-8").strip()
        except UnicodeDecodeError:
            return [(s.meter, Rejected("not_utf8")) for s in power]
        decoded: list[Decoded] = []
        for sensor in power:
            value = select(text, sensor.path)
            if isinstance(value, Rejected):
                decoded.append((sensor.meter, value))
            else:
                decoded += self._measured(sensor.meter, InUnit(value, sensor.unit), None, arrival_s)
        return decoded

    def _reads_state(self, state_topic: str) -> bool:
        """Whether a discovered sensor's state topic is under one of the source's state subscriptions."""
        return any(topic_matches(p, state_topic) is not None for p in self.topics if p not in self.profile.discovery)

    def _measured(self, meter: str, value: object, ts: object, arrival_s: float) -> list[Decoded]:
        """A decoded value and its timestamp (None: arrival) as samples: time, range and unit checks."""
        t_s = arrival_s if ts is None else parse_time(ts, self.household, arrival_s)
        if t_s is None:
            return [(meter, Rejected("bad_ts", repr(ts)[:80]))]
        if not self.limits.earliest_minute * 60 <= t_s < (self.limits.latest_minute(arrival_s) + 1) * 60:
            return [(meter, Rejected("ts_out_of_range", str(ts)[:80]))]
        if t_s - arrival_s > MAX_AHEAD_S and not self.profile.whole_minutes:
            return [(meter, Rejected("future", clock_advice(meter, t_s - arrival_s, self.household, arrival_s)))]
        if isinstance(value, Measurements):
            values = value.values(self.limits)
            return [(meter, values if isinstance(values, Rejected) else Reading(meter, int(t_s // 60), values))]
        if isinstance(value, Channels):
            if not self._apart(meter):
                return [self._sample(meter, list(value.values.values()), t_s)]
            channels = [(f"{meter}.{c}" if c else meter, value.values[c]) for c in value.changed]
            return [
                self._sample(m, v, t_s) if METER_ID.fullmatch(m) else (m, Rejected("bad_meter_id", m[:80]))
                for m, v in channels
            ]
        if isinstance(value, InUnit):
            unit = value.unit or self.source.unit
            if not unit:
                return [(meter, Rejected("no_unit", "its unit_of_measurement not seen yet and no unit declared"))]
            return [self._sample(meter, value.value, t_s, unit)]
        return [self._sample(meter, value, t_s)]

    def _apart(self, meter: str) -> bool:
        """Whether this device's channels are meters of their own (the source's ``channels``, else the profile's;
        a device whose channels are the phases of one supply, a Shelly 3EM, is one meter)."""
        if self.source.channels:
            return self.source.channels == "apart"
        phases = bool(self.profile.phase_devices) and meter.startswith(self.profile.phase_devices)
        return self.profile.channels == "apart" and not phases

    def _sample(self, meter: str, value: object, t_s: float, unit: str = "") -> Decoded:
        kw = power_kw(value, UNITS_PER_KW[unit or self.source.unit])
        if kw is None:
            return meter, Rejected("bad_value", repr(value)[:80])
        if kw > self.limits.max_power_kw:
            return meter, Rejected("out_of_range", f"{kw:g} kW")
        return meter, Sample(self.name, meter, t_s, kw)

    def _state(self, meter: str) -> dict[str, Any]:
        state = self.states.get(meter)
        if state is None:
            state = {}
            remember(self.states, meter, state, self.max_meters)
        return state


def remember(mapping: dict[str, V], key: str, value: V, limit: int) -> V:
    """``mapping[key] = value``, first dropping the oldest key if a new one would pass ``limit``: per-meter memory
    stays bounded whatever ids arrive."""
    if key not in mapping and len(mapping) >= limit:
        del mapping[next(iter(mapping))]
    mapping[key] = value
    return value


def power_kw(value: object, per_kw: float) -> float | None:
    """kW from a number, a numeric string (``"00.196"``), a list of phases (summed) or a :class:`Net` (delivered minus
    returned); NaN for a missing value (``unavailable``, ``unknown``, null, NaN); None if it is none of these."""
    if isinstance(value, Net):
        delivered, returned = power_kw(value.delivered, per_kw), power_kw(value.returned, per_kw)
        return None if delivered is None or returned is None else delivered - returned
    if isinstance(value, list):
        phases = [power_kw(v, per_kw) for v in value]
        return None if not phases or any(p is None for p in phases) else math.fsum(phases)  # type: ignore[arg-type]
    if value is None:
        return math.nan
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if value.strip().lower() in MISSING_WORDS:
            return math.nan
        try:
            value = float(value)
        except ValueError:
            return None
    if not isinstance(value, (int, float)) or math.isinf(value):
        return None
    return float(value) / per_kw


def parse_reading(
    topic: str,
    payload: bytes,
    prefix: str = DEFAULT_PREFIX,
    max_bytes: int = 4096,
    limits: ReadingLimits = DEFAULT_LIMITS,
    now_s: float | None = None,
    household: HouseholdTime | None = None,
) -> Reading | Sample | Rejected:
    """One wattcast message on ``<prefix>/<meter_id>/reading`` the agent's way (a wattcast :class:`SourceReader`), for
    the benchmarks and tests that look at a single message; ``now_s`` (default: the wall clock) is when it arrived,
    a ``ts`` without offset is read in ``household``'s zone (UTC when None)."""
    reader = SourceReader.build(
        Source(WATTCAST, topic=f"{prefix}/+/reading"), household or HouseholdTime("UTC"), limits, max_bytes
    )
    decoded = reader.decode(topic, payload, time.time() if now_s is None else now_s)[1]
    if isinstance(decoded, Learnt):  # the wattcast profile has no metadata topics
        raise AssertionError("a wattcast message is never metadata")
    return decoded
