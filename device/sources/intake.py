"""Every configured source in, minute readings out, every message accounted for per source.

The agent hands each message here. ``wattcast`` messages are already one reading a minute and go through
device/wire.py as before (a rejected one comes back as :class:`~device.readings.Rejected`, for the agent's own
counters). Messages of the other sources become samples (device/sources/reader.py), then minutes
(device/sources/resample.py),
then readings with only ``gap`` set; whatever is rejected, late, missing, negative or filled on the way is counted
in :attr:`SourceIntake.counters` under its source and logged with its meter and topic (rate-limited per reason).

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
from typing import TYPE_CHECKING

import numpy as np

from device.clock import HouseholdTime
from device.contract import MEASUREMENTS, TARGET
from device.io.ratelog import RateLimitedLog
from device.readings import Reading, ReadingLimits, Rejected
from device.sources.reader import WATTCAST, Source, SourceReader, remember, topic_matches
from device.sources.resample import Minute, Resampler
from device.wire import meter_of, parse_reading

if TYPE_CHECKING:
    from device.models.entry import ModelEntry

log = logging.getLogger("wattcast.sources")
SOURCE_COUNTERS = ("messages", "samples", "minutes", "filled_minutes", "late", "missing_values", "negative_clipped")
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
    ) -> None:
        names = [s.profile for s in sources]
        self.household = household
        self.limits = limits
        self.topic_prefix = topic_prefix
        self.max_bytes = max_bytes
        self.wattcast = WATTCAST in names
        self.readers = [
            SourceReader.build(s, household, limits, max_bytes, max_meters) for s in sources if s.profile != WATTCAST
        ]
        self.resampler = Resampler(grace_s, max_hold_minutes, max_meters)
        self.counters: dict[str, Counter[str]] = {
            name: Counter({k: 0 for k in SOURCE_COUNTERS}) for name in [*dict.fromkeys(names), UNMATCHED]
        }
        self.rejected: dict[str, Counter[str]] = {name: Counter() for name in self.counters}
        self._log = RateLimitedLog(log)
        self._topics: dict[str, str] = {}  # meter -> the topic it was last heard on, for the stream's log lines
        self._owners: dict[str, str] = {}  # meter -> the source that published it first (up to max_meters ids)
        self._max_meters = max_meters

    @property
    def wattcast_topic(self) -> str:
        return f"{self.topic_prefix}/+/reading"

    def subscriptions(self) -> list[str]:
        """The MQTT filters to subscribe to, one per source."""
        return ([self.wattcast_topic] if self.wattcast else []) + [r.topic for r in self.readers]

    def read(self, topic: str, payload: bytes, arrival_s: float) -> list[Reading] | Rejected:
        """The readings one message completes (often none: a minute closes on a later sample); a rejected
        ``wattcast`` message is returned as such, any other rejection is counted and logged here."""
        for reader in self.readers:
            if topic_matches(reader.topic, topic) is not None:
                return self._read_samples(reader, topic, payload, arrival_s)
        source = WATTCAST if self.wattcast else UNMATCHED
        self.counters[source]["messages"] += 1
        if not self.wattcast:
            self._reject(UNMATCHED, topic, topic, Rejected("bad_topic", topic[:100]))
            return []
        parsed = parse_reading(
            topic, payload, self.topic_prefix, self.max_bytes, self.limits, arrival_s, self.household
        )
        if not isinstance(parsed, Rejected):
            parsed = self._claim(WATTCAST, parsed.meter, topic) or parsed
        if isinstance(parsed, Rejected):
            self._reject(WATTCAST, meter_of(topic, self.topic_prefix) or topic, topic, parsed)
            return parsed
        self.counters[WATTCAST]["samples"] += 1
        remember(self._topics, parsed.meter, topic, self._max_meters)
        return [parsed]

    def usable_models(self, models: list[ModelEntry], chosen: bool) -> list[ModelEntry]:
        """The models that can run on these sources (checked on the manifest entries, before anything is built, at
        start and on every reload). Meters other than wattcast send power only, so a model that needs more
        (voltage, sub-meters) cannot run on them: refused if the user chose it (``chosen``), else left out with a
        warning naming it and what it needs."""
        unfit = {m.name: [f for f in m.needed_measurements if f != TARGET] for m in models} if self.readers else {}
        unfit = {name: needs for name, needs in unfit.items() if needs}
        if not unfit:
            return models
        sources = ", ".join(dict.fromkeys(r.name for r in self.readers))
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

    def _read_samples(self, reader: SourceReader, topic: str, payload: bytes, arrival_s: float) -> list[Reading]:
        counts = self.counters[reader.name]
        counts["messages"] += 1
        meter, sample = reader.decode(topic, payload, arrival_s)
        if not isinstance(sample, Rejected):
            sample = self._claim(reader.name, meter, topic) or sample
        if isinstance(sample, Rejected):
            self._reject(reader.name, meter, topic, sample)
            return []
        counts["samples"] += 1
        remember(self._topics, meter, topic, self._max_meters)
        kw = sample.kw
        if math.isnan(kw):
            counts["missing_values"] += 1
        elif kw < 0:
            counts["negative_clipped"] += 1  # export (solar): the models were trained on consumption
            kw = 0.0
        closed = self.resampler.add(reader.name, meter, sample.t_s, kw, arrival_s)
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
            values = np.full(len(MEASUREMENTS), np.nan)
            values[_TARGET_COLUMN] = m.kw
            readings.append(Reading(m.meter, m.minute, values, held=m.filled))
        return readings

    def _reject(self, source: str, meter: str, topic: str, rejected: Rejected) -> None:
        self.rejected[source][rejected.reason] += 1
        self._log.warning(
            f"{source}:{rejected.reason}",
            "rejected a %s message from meter %s on %s (%s): %s",
            source,
            meter,
            topic,
            rejected.reason,
            rejected.detail,
        )

    def state(self) -> dict:
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

    def restore(self, state: dict) -> None:
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

    def snapshot(self) -> dict:
        """Per source: its counters and rejections by reason (sources that saw nothing included)."""
        return {
            name: {**counts, "meters_evicted": self.resampler.evicted[name], "rejected": dict(self.rejected[name])}
            for name, counts in self.counters.items()
        }
