"""Series models on one meter: a forecast of every step of the next hour (P10/P50/P90 each) per reading once the
meter has a full window of history, kept until the last minute it forecasts has arrived, then scored per step with
:class:`~device.series_scoring.SeriesScores` (the accumulator the offline evaluation uses).

A series window is a week of one-minute rows (``device.contract.series_inputs``): a model does not forecast before
its meter has that much history since its last reset, and the forecaster counts (and logs) the readings it held back
for that reason. A forecast is scored as a whole, all its steps at once, when the row of its last minute arrives, so
every scored forecast contributes one value to every step (as every window of the offline table does). Its actuals
are the stream's rows (forward-filled where a reading was missing, like the file the offline table was made on).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from device.contract import SeriesSpec
from device.forecasting.ringbuffer import RingBuffer
from device.series_scoring import SeriesScores

#: the quantiles a published step names (the 0.5 is ``kw``)
LOW, HIGH = 0.1, 0.9


@dataclass(frozen=True)
class SeriesForecast:
    """Every step of one forecast in kW, (steps, quantiles), made from the window whose newest reading is ``minute``
    (UTC minutes since the epoch)."""

    meter: str
    model: str
    minute: int
    spec: SeriesSpec
    quantiles: tuple[float, ...]
    kw: np.ndarray  # float64 (steps, quantiles), quantiles ascending
    latency_ns: int
    cpu_ns: int  # -1 where not sampled
    from_filled: bool = False

    @property
    def last_minute(self) -> int:
        """The newest minute it forecasts: once this row arrives, every step has its actual."""
        return self.minute + self.spec.horizon_minutes

    def step_bounds(self) -> list[tuple[int, int]]:
        """Each step's [start, end) in minutes: step ``s`` is the mean of the readings stamped ``start .. end - 1``."""
        width = self.spec.step_minutes
        return [(self.minute + 1 + s * width, self.minute + 1 + (s + 1) * width) for s in range(self.spec.steps)]

    def column(self, quantile: float) -> list[float]:
        return [float(v) for v in self.kw[:, self.quantiles.index(quantile)]]


def iso_minute(minute: int) -> str:
    """A UTC minute as ISO 8601 with its offset (``2007-01-01T00:05:00+00:00``), which HA and EMHASS parse as is."""
    return datetime.fromtimestamp(minute * 60, UTC).isoformat()


def series_message(forecast: SeriesForecast) -> dict[str, object]:
    """The body published on ``devices/<agent>/meters/<meter>/series``: kW rounded to 0.1 W."""
    return {
        "model": forecast.model,
        "made_ts": iso_minute(forecast.minute),
        "steps": [
            {
                "start": iso_minute(start),
                "end": iso_minute(end),
                "kw": round(kw, 4),
                "p10": round(lo, 4),
                "p90": round(hi, 4),
            }
            for (start, end), kw, lo, hi in zip(
                forecast.step_bounds(), forecast.column(0.5), forecast.column(LOW), forecast.column(HIGH), strict=True
            )
        ],
    }


@dataclass
class SeriesTrack:
    """What a series model keeps per meter besides its feature rows: forecasts waiting for their last minute, the
    newest actual kW (as many as one forecast spans), and the per-step scores so far."""

    spec: SeriesSpec
    quantiles: tuple[float, ...]
    actuals: RingBuffer = field(init=False)
    pending: dict[int, SeriesForecast] = field(default_factory=dict)  # last minute -> forecast
    scores: SeriesScores = field(init=False)

    def __post_init__(self) -> None:
        self.actuals = RingBuffer(self.spec.horizon_minutes, 1, np.float64)
        self.scores = SeriesScores(self.quantiles, self.spec.steps)

    def take_row(self, minute: int, actual_kw: float) -> SeriesForecast | None:
        """One row of the meter, in time order: returns the forecast it completed (now scored), if any."""
        self.actuals.append((actual_kw,))
        done = self.pending.pop(minute, None)
        if done is None:
            return None
        blocks = self.actuals.last(self.spec.horizon_minutes)[:, 0].reshape(self.spec.steps, self.spec.step_minutes)
        self.scores.add(done.kw[None], blocks.mean(axis=1)[None])
        return done

    def refill(self, newest: int, minutes: np.ndarray, actual_kw: np.ndarray) -> None:
        """Late real values replaced filled rows: the forecasts still waiting are scored against them."""
        for minute, kw in zip(minutes.tolist(), actual_kw.tolist(), strict=True):
            if newest - minute < self.actuals.size:
                self.actuals.set_ago(newest - minute, (kw,))

    def queue(self, forecast: SeriesForecast) -> None:
        self.pending[forecast.last_minute] = forecast

    def reset(self) -> list[SeriesForecast]:
        """The meter's history is gone: its waiting forecasts will never be scored."""
        dropped = list(self.pending.values())
        self.pending.clear()
        self.actuals.clear()
        return dropped
