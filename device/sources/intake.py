"""Every configured source in, minute readings out, every message accounted for per source.

The agent hands each message here, whatever its dialect: the source whose subscription matches decodes it
(device/sources/reader.py). A ``wattcast`` message is a whole minute already; the other sources' samples become
minutes (device/sources/resample.py), then readings with only ``gap`` set. Whatever is rejected, late, missing,
negative or filled on the way is counted once, in :attr:`SourceIntake.counters` and :attr:`SourceIntake.rejected`
under its source, and logged with its meter and topic (every meter named, then rate-limited per reason).

A meter id belongs to the first source that publishes it: two devices of different sources with one id (a Tasmota
and a Shelly both named ``house``) would otherwise be mixed into one stream, minutes of neither meter. The other
source's messages for it are rejected as ``meter_id_clash``. Which source owns which id, the resampler's open minutes
and the decoders' memory go into the agent's state file (:meth:`SourceIntake.state`).
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from device.clock import HouseholdTime
from device.contract import MEASUREMENTS, TARGET
from device.io.ratelog import RateLimitedLog
from device.readings import Reading, ReadingLimits, Rejected
from device.sources.clockcheck import ClockWatch
from device.sources.meterlog import MeterLog
from device.sources.profiles import Learnt
from device.sources.reader import WATTCAST, Sample, Source, SourceReader, remember
from device.sources.resample import Minute, Resampler

if TYPE_CHECKING:
    from device.models.entry import ModelEntry

log = logging.getLogger("wattcast.sources")
SOURCE_COUNTERS = (
    "messages",
    "samples",
    "minutes",
    "filled_minutes",
    "held_minutes",
    "late",
    "missing_values",
    "negative_clipped",
    "clock_zone_suspects",
    "metadata",
)
UNMATCHED = "unmatched"  # messages on a topic no source subscribed to (possible under a shared or wider filter)
_TARGET_COLUMN = MEASUREMENTS.index(TARGET)


class SourceIntake:
    """Routes each message to its source and keeps the per-source counters the metrics publish."""

    def __init__(
        self,
        sources: tuple[Source, ...],
        household: HouseholdTime,
        limits: ReadingLimits,
        topic_prefix: str = "meter",
        max_bytes: int = 4096,
        grace_s: float = 5.0,
        max_hold_minutes: int = 15,
        max_meters: int = 10_000,
        own_topics: tuple[str, ...] = (),
    ) -> None:
        names = [s.profile for s in sources]
        #: topic prefixes of the agent's own outputs (``devices/<agent_id>/``, its discovery configs): never read
        self.own_topics = own_topics
        self.readers = [
            SourceReader.build(self._with_topic(s, topic_prefix), household, limits, max_bytes, max_meters)
            for s in sources
        ]
        self.resampler = Resampler(grace_s, max_hold_minutes, max_meters)
        self.counters: dict[str, Counter[str]] = {
            name: Counter({k: 0 for k in SOURCE_COUNTERS}) for name in [*dict.fromkeys(names), UNMATCHED]
        }
        self.rejected: dict[str, Counter[str]] = {name: Counter() for name in self.counters}
        self._log = RateLimitedLog(log)
        self._topics: dict[str, str] = {}  # meter -> the topic it was last heard on, for the stream's log lines
        self._owners: dict[str, str] = {}  # meter -> the source that published it first (up to max_meters ids)
        self._clocks = ClockWatch(max_meters)
        self._rejections_log = MeterLog(log, max_named=max_meters)
        self._max_meters = max_meters

    @staticmethod
    def _with_topic(source: Source, topic_prefix: str) -> Source:
        """The wattcast source's default subscription follows the agent's reading prefix (a partition's
        ``part/K/meter``); every other profile has its own."""
        if source.profile != WATTCAST or source.topic:
            return source
        return replace(source, topic=f"{topic_prefix}/+/reading")

    def subscriptions(self) -> list[str]:
        """The MQTT filters to subscribe to: each source's (a profile may have several, emonhub's two formats)."""
        return list(dict.fromkeys(t for r in self.readers for t in r.topics))

    def read(self, topic: str, payload: bytes, arrival_s: float, retained: bool = False) -> list[Reading]:
        """The readings one message completes (often none: a minute closes on a later sample); a rejected message is
        counted and logged here, under its source (or ``unmatched``). ``retained``: the broker's retain flag (a
        stored message sent at subscribe time), refused as ``retained``."""
        for reader in self.readers:
            levels = reader.matches(topic)
            if levels is not None:
                if topic.startswith(self.own_topics):
                    self.counters[reader.name]["messages"] += 1
                    self._reject(reader.name, topic, topic, Rejected("own_output", "the agent's own topic"))
                    return []
                return self._read(reader, topic, levels, payload, arrival_s, retained)
        self.counters[UNMATCHED]["messages"] += 1
        self._reject(UNMATCHED, topic, topic, Rejected("bad_topic", topic[:100]))
        return []

    def rejected_by_reason(self) -> Counter[str]:
        """Every source's rejections summed by reason (the metrics' top-level ``rejected``)."""
        return sum(self.rejected.values(), Counter())

    def rejected_readings(self) -> int:
        """Rejected messages that were meant as whole readings: the wattcast sources', and those on no source's
        topic."""
        whole = {r.name for r in self.readers if r.whole_minutes} | {UNMATCHED}
        return sum(sum(self.rejected[name].values()) for name in whole)

    def usable_models(self, models: list[ModelEntry], chosen: bool) -> list[ModelEntry]:
        """The models that can run on these sources (checked on the manifest entries, before anything is built, at
        start and on every reload). Meters other than wattcast send power only, so a model that needs more
        (voltage, sub-meters) cannot run on them: refused if the user chose it (``chosen``), else left out with a
        warning naming it and what it needs."""
        power_only = [r for r in self.readers if not r.whole_minutes]
        unfit = {m.name: [f for f in m.needed_measurements if f != TARGET] for m in models} if power_only else {}
        unfit = {name: needs for name, needs in unfit.items() if needs}
        if not unfit:
            return models
        sources = ", ".join(dict.fromkeys(r.name for r in power_only))
        usable = [m for m in models if m.name not in unfit]
        if chosen or not usable:
            raise ValueError(
                f"{sources} meters send power only, but models {unfit} need more measurements (shown); "
                "pick models that need only gap (e.g. linreg, persistence, lstm_int8) or feed those "
                "meters as wattcast readings"
            )
        log.warning("%s meters send power only: not running %s, which need more measurements", sources, unfit)
        return usable

    def tick(self, now_s: float) -> list[Reading]:
        """Minutes that quiet meters' clocks have passed (call about once a second)."""
        return self._readings(self.resampler.tick(now_s))

    def log_stream_drop(self, meter: str, outcome: str) -> None:
        """A reading the meter's stream would not take (late, or a null with nothing to fill it from): the agent
        counts it in its readings, this names the meter and topic."""
        self._log.warning(
            f"stream:{outcome}",
            "dropped a reading of meter %s from %s: %s",
            meter,
            self._topics.get(meter, "?"),
            outcome,
        )

    def _count_late(self, source: str, meter: str, topic: str, detail: str) -> None:
        self.counters[source]["late"] += 1
        self._log.warning(
            f"{source}:late", "late sample from meter %s on %s (its minute was closed): %s", meter, topic, detail
        )

    def _read(
        self, reader: SourceReader, topic: str, levels: list[str], payload: bytes, arrival_s: float, retained: bool
    ) -> list[Reading]:
        counts = self.counters[reader.name]
        counts["messages"] += 1
        readings: list[Reading] = []
        for meter, decoded in reader.decode_all(topic, payload, arrival_s, retained, levels):
            if isinstance(decoded, Learnt):
                counts["metadata"] += 1
                continue
            if not isinstance(decoded, Rejected):
                decoded = self._claim(reader.name, meter, topic) or decoded
            if isinstance(decoded, Rejected):
                self._reject(reader.name, meter, topic, decoded)
                continue
            counts["samples"] += 1
            remember(self._topics, meter, topic, self._max_meters)
            readings += [decoded] if isinstance(decoded, Reading) else self._resample(reader, topic, decoded, arrival_s)
        return readings

    def _resample(self, reader: SourceReader, topic: str, sample: Sample, arrival_s: float) -> list[Reading]:
        counts = self.counters[reader.name]
        meter = sample.meter
        kw = sample.kw
        if sample.t_s != arrival_s:  # stamped by the meter's own clock
            named = self._clocks.observe(meter, sample.t_s - arrival_s, arrival_s, reader.household)
            if named is not None:
                counts["clock_zone_suspects"] += 1
                log.warning("clock of %s source on %s: %s", reader.name, topic, named)
        if math.isnan(kw):
            counts["missing_values"] += 1
        elif kw < 0:
            counts["negative_clipped"] += 1  # export (solar): the models were trained on consumption
            kw = 0.0
        closed = self.resampler.add(reader.name, meter, sample.t_s, kw, arrival_s, reader.hold_s)
        if closed is None:
            self._count_late(reader.name, meter, topic, f"t={sample.t_s:.0f}")
            return []
        return self._readings(closed)

    def _claim(self, source: str, meter: str, topic: str) -> Rejected | None:
        """None if ``meter`` is ``source``'s (now or from before), else why its message is refused."""
        owner = self._owners.get(meter)
        if owner is None:
            remember(self._owners, meter, source, self._max_meters)
        elif owner != source:
            return Rejected(
                "meter_id_clash",
                f"meter id {meter} is already source {owner}'s, which published it first; give one device "
                f'its own id: rename it, or declare its topic ({topic}) with a fixed meter = "<id>" in a '
                "[[source]] table of --config",
            )
        return None

    def _readings(self, minutes: Sequence[Minute]) -> list[Reading]:
        readings = []
        for m in minutes:
            counts = self.counters[m.source]
            counts["minutes"] += 1
            counts["filled_minutes"] += m.filled
            counts["held_minutes"] += m.held
            values = np.full(len(MEASUREMENTS), np.nan)
            values[_TARGET_COLUMN] = m.kw
            readings.append(Reading(m.meter, m.minute, values, held=m.filled))
        return readings

    def _reject(self, source: str, meter: str, topic: str, rejected: Rejected) -> None:
        """Count it under its source and reason; the log names every meter at least once per source and reason
        (then at most one line per reason every 10 s), so no device's messages go unnamed behind another's."""
        self.rejected[source][rejected.reason] += 1
        self._rejections_log.warning(
            f"{source}:{rejected.reason}",
            meter,
            "rejected a %s message from meter %s on %s (%s): %s",
            source,
            meter,
            topic,
            rejected.reason,
            rejected.detail,
        )

    def state(self) -> dict[str, Any]:
        """What a restart needs to go on as if there had been none, JSON-ready: the owner of each meter id, the
        resampler's open minutes and the decoders' per-meter memory (Shelly Gen2's merged status, Gen1's channels;
        kept as JSON text, since a payload's NaN is valid to Python's JSON but not to the state file's)."""
        return {
            "owners": self._owners,
            "resampler": self.resampler.state(),
            "decoders": [
                [r.name, r.topic, json.dumps({m: kept for m, kept in r.states.items() if kept})] for r in self.readers
            ],
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Take over a saved :meth:`state` for the sources configured now (a source since removed gives up its meter
        ids and open minutes; a decoder's memory is kept only for the same profile and topic). Raises
        KeyError/TypeError/ValueError on a malformed state, leaving the intake as it was."""
        names = set(self.counters) - {UNMATCHED}
        owners = {str(meter): source for meter, source in state["owners"].items() if source in names}
        saved = {(name, topic): text for name, topic, text in state["decoders"]}
        decoders = [json.loads(saved.get((r.name, r.topic), "{}")) for r in self.readers]
        if not all(isinstance(d, dict) and all(isinstance(k, dict) for k in d.values()) for d in decoders):
            raise ValueError("a decoder's memory is not an object of objects")
        self.resampler.restore(state["resampler"], {r.name for r in self.readers})
        self._owners = dict(list(owners.items())[-self._max_meters :])
        for reader, kept in zip(self.readers, decoders):
            reader.states = dict(list(kept.items())[-self._max_meters :])

    def snapshot(self) -> dict[str, Any]:
        """Per source: its counters and rejections by reason (sources that saw nothing included)."""
        return {
            name: {**counts, "meters_evicted": self.resampler.evicted[name], "rejected": dict(self.rejected[name])}
            for name, counts in self.counters.items()
        }
