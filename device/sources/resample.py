"""Irregular power samples to one value per minute and meter, as the models were trained on.

UCI's Global_active_power is the minute-averaged active power, so a minute's value here is the time-weighted mean of
the samples over that minute, each sample holding until the next one. A minute is closed (final, handed on) once a
sample at least ``grace_s`` past its end has arrived, or, for a meter that went quiet, once the agent's clock says so
(:meth:`Resampler.tick`); a sample for an already closed minute is late. A source slower than a minute (Tasmota's
default TelePeriod is 300 s) leaves minutes without a sample: they hold the last value and are marked filled. A value
older than ``max_hold_minutes`` is not held: the minutes after it are left absent, for the stream to fill or reset.
A source that reports on change (``hold_s`` > 0: Home Assistant's statestream, Shelly's power threshold) is silent
while its power is steady, so its held minutes are real, up to ``hold_s`` after its last sample; past that the meter
goes quiet (no minute, neither real nor filled) until its next sample.
The open minutes go into the agent's state file (:meth:`Resampler.state`), so a restart computes them from every
sample, not only from those after it.

Per sample this is a list append and a comparison; the arithmetic runs once per closed minute.
"""

from __future__ import annotations

import bisect
import logging
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from device.io.ratelog import RateLimitedLog

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Minute:
    """A closed minute: its UTC minute, the mean power in kW, and whether no sample fell inside it: ``filled`` (a
    periodic source's value held over a missed period) or ``held`` (an on-change source's steady value: real)."""

    source: str
    meter: str
    minute: int
    kw: float
    filled: bool
    held: bool = False


class _Meter:
    """One meter's open minutes: the samples from the first open minute on, and the one before it (which holds)."""

    __slots__ = ("source", "open", "close_at", "samples", "carry", "offset_s", "quiet", "warned", "hold_s")

    def __init__(self, source: str, t_s: float, arrival_s: float) -> None:
        self.source = source
        self.open = int(t_s // 60)  # the first minute not closed yet
        self.close_at = math.inf  # the newest sample time that closes it (its end plus the grace), set by Resampler
        self.samples: list[tuple[float, float]] = []
        self.carry: tuple[float, float] | None = None
        #: the meter's clock against ours, for closing minutes of a quiet meter (infinite, so never, for a restored
        #: meter until its next sample)
        self.offset_s = arrival_s - t_s
        self.quiet = False  # nothing left to close until a new sample arrives
        self.warned = False
        self.hold_s = 0.0  # > 0: the source reports on change, its value stands for real minutes this long


class Resampler:
    """Every meter's minute means; :meth:`add` and :meth:`tick` return the minutes they closed, in order."""

    def __init__(self, grace_s: float = 5.0, max_hold_minutes: int = 15, max_meters: int = 10_000) -> None:
        self.grace_s = grace_s
        self.max_hold_s = max_hold_minutes * 60
        self.max_meters = max_meters
        self._meters: dict[str, _Meter] = {}
        self.evicted: Counter[str] = Counter()  # per source: meters dropped, open minutes and all, to admit a new one
        self._log = RateLimitedLog(log)

    def __len__(self) -> int:
        return len(self._meters)

    def add(
        self, source: str, meter: str, t_s: float, kw: float, arrival_s: float, hold_s: float = 0.0
    ) -> Sequence[Minute] | None:
        """Take one sample (kW, NaN for "no value"); returns the minutes it closed, or None if it is late.
        ``hold_s`` > 0: the source reports on change, so its value stands for real minutes up to that long."""
        state = self._meters.get(meter)
        if state is None:
            if len(self._meters) >= self.max_meters:  # the oldest first: memory stays bounded under a flood of ids
                oldest = next(iter(self._meters))
                self.evicted[self._meters.pop(oldest).source] += 1
                self._log.warning(
                    "evicted",
                    "resampler full (%d meters): dropped meter %s with its open minutes",
                    self.max_meters,
                    oldest,
                )
            state = self._meters[meter] = _Meter(source, t_s, arrival_s)
            state.close_at = (state.open + 1) * 60 + self.grace_s
        elif t_s < state.open * 60:
            return None
        samples = state.samples
        if not samples or t_s >= samples[-1][0]:
            samples.append((t_s, kw))
            state.offset_s = arrival_s - t_s
        else:  # out of order, but its minute is still open: it counts
            bisect.insort(samples, (t_s, kw))
        state.quiet = False
        state.hold_s = hold_s
        if samples[-1][0] < state.close_at:
            return ()
        return self._close(meter, state, samples[-1][0] - self.grace_s)

    def tick(self, now_s: float) -> list[Minute]:
        """Close what a quiet meter's clock has passed (each meter's clock read through its last offset to ours), and
        forget meters whose last value is too old to hold."""
        closed: list[Minute] = []
        for meter, state in self._meters.items():
            if not state.quiet:
                closed += self._close(meter, state, now_s - state.offset_s - self.grace_s)
        for meter in [m for m, state in self._meters.items() if state.quiet]:
            del self._meters[meter]  # nothing left to hold: forget it, so memory follows the meters still sending
        return closed

    def state(self) -> dict[str, Any]:
        """Every meter's open minutes as JSON-ready values, oldest meter first: its source, its first open minute, the
        samples from there on and the one before them (which holds into it); a missing value (NaN) as None. A quiet
        meter holds nothing to close and is left out."""
        return {
            meter: {
                "source": s.source,
                "open": s.open,
                "samples": [_saved(p) for p in s.samples],
                "carry": None if s.carry is None else _saved(s.carry),
            }
            for meter, s in self._meters.items()
            if not s.quiet
        }

    def restore(self, saved: dict[str, Any], sources: set[str]) -> None:
        """Take over a saved :meth:`state`, for the meters of ``sources`` (those still configured). The agent was away,
        and the broker may hold samples sent meanwhile: a restored meter's minutes are closed by its next sample, never
        by the agent's clock (its clock offset is unknown until then; the values are the same, only later). Raises
        KeyError/TypeError/ValueError on a malformed state, leaving the resampler as it was."""
        meters: dict[str, _Meter] = {}
        for meter, kept in saved.items():
            if kept["source"] not in sources:
                log.warning(
                    "state: dropped the open minutes of meter %s: its source %s is not configured any more",
                    meter,
                    kept["source"],
                )
                continue
            state = meters[str(meter)] = _Meter(str(kept["source"]), int(kept["open"]) * 60, arrival_s=math.inf)
            state.samples = [_sample(p) for p in kept["samples"]]  # in their order: equal times keep the last
            state.carry = None if kept["carry"] is None else _sample(kept["carry"])
            state.close_at = (state.open + 1) * 60 + self.grace_s
        self._meters = dict(list(meters.items())[-self.max_meters :])

    def _close(self, meter: str, state: _Meter, until_s: float) -> list[Minute]:
        """Close every open minute that ends at or before ``until_s``."""
        closed: list[Minute] = []
        samples = state.samples
        while (state.open + 1) * 60 <= until_s:
            start = state.open * 60
            end = start + 60
            inside = bisect.bisect_left(samples, (end, -math.inf))
            held = state.carry
            on_change = state.hold_s > 0
            if not inside and (held is None or start - held[0] > (state.hold_s if on_change else self.max_hold_s)):
                if not samples:  # a value too old to hold and nothing newer: wait for the next sample
                    state.quiet = True
                    break
                state.open = int(samples[0][0] // 60)  # skip the minutes nothing covers
                state.close_at = (state.open + 1) * 60 + self.grace_s
                continue
            total = known = 0.0
            previous = held
            for t, kw in (*samples[:inside], (end, math.nan)):  # each value holds until the next, the last to the end
                if previous is not None and previous[1] == previous[1]:  # not NaN
                    span = t - max(previous[0], start)
                    total += previous[1] * span
                    known += span
                previous = (t, kw)
            if inside:
                state.carry = samples[inside - 1]
                del samples[:inside]
            elif not state.warned and held is not None and not on_change:  # a periodic source missed a period
                state.warned = True
                log.warning(
                    "meter %s sends a sample every %.0f s or less often, slower than a minute: its last "
                    "value is held for the minutes between (counted as filled minutes)",
                    meter,
                    (samples[0][0] if samples else until_s) - held[0],
                )
            if known > 0:
                missed = not inside
                closed.append(
                    Minute(
                        state.source, meter, state.open, total / known, missed and not on_change, missed and on_change
                    )
                )
            state.open += 1
        state.close_at = (state.open + 1) * 60 + self.grace_s
        return closed


def _saved(sample: tuple[float, float]) -> list[float | None]:
    t, kw = sample
    return [t, None if math.isnan(kw) else kw]


def _sample(saved: list[Any]) -> tuple[float, float]:
    t, kw = saved
    return float(t), math.nan if kw is None else float(kw)
