"""The agent's core without any MQTT: readings in, predictions and online scores out.

Per meter it keeps one :class:`~device.stream.MeterStream` and, per model, a ring buffer of that model's scaled
feature rows, so a window is a view of the newest ``seq_len`` rows. A prediction made at minute ``t`` waits until
the row for ``t + horizon`` exists, then it is scored with the same :class:`~device.scoring.ErrorAccumulator` the
host evaluation uses. Replaying a series through :meth:`Forecaster.process` therefore scores exactly the windows of
:func:`device.contract.streaming_windows` over that series.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from device.contract import MEASUREMENTS, MIN_HISTORY, FillPolicy, feature_matrix, pre_pad
from device.models import LoadedModel
from device.payload import Reading
from device.ringbuffer import RingBuffer
from device.scoring import ErrorAccumulator
from device.stream import MeterStream, Outcome, StreamUpdate


@dataclass(frozen=True)
class Prediction:
    meter: str
    model: str
    minute: int  # the newest reading in the window
    target_minute: int
    predicted_kw: float
    latency_ns: int  # wall time of predictor.predict for this one window
    cpu_ns: int  # this thread's CPU time for the same call (the energy proxy's input)
    actual_kw: float | None = None  # set once scored


@dataclass
class _ModelTrack:
    """One model's view of one meter: its scaled feature rows and its predictions waiting for their target."""

    features: RingBuffer
    pending: dict[int, Prediction] = field(default_factory=dict)
    errors: ErrorAccumulator = field(default_factory=ErrorAccumulator)


@dataclass
class _Meter:
    stream: MeterStream
    tracks: dict[str, _ModelTrack]


@dataclass(frozen=True)
class Step:
    """Everything one reading caused."""

    update: StreamUpdate
    predictions: list[Prediction]
    scored: list[Prediction]
    dropped: list[Prediction]  # pending predictions whose meter was reset before their target arrived


def model_rows(model: LoadedModel, minutes: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Scaled feature rows of ``model`` for raw minute rows: the contract's feature_matrix, then its scaling."""
    columns = {name: rows[:, i] for i, name in enumerate(MEASUREMENTS)}
    return model.scaling.transform(feature_matrix(columns, minutes, model.entry.window.features))


class Forecaster:
    """Several models side by side over many meters."""

    def __init__(self, models: list[LoadedModel], max_gap_minutes: int, dedupe_minutes: int = 1440) -> None:
        self.models = models
        self._max_gap = max_gap_minutes
        self._needed = tuple(sorted({m for model in models for m in model.needed_measurements},
                                    key=MEASUREMENTS.index))
        self._dedupe = max(dedupe_minutes, *(model.entry.window.seq_len for model in models))
        self.meters: dict[str, _Meter] = {}

    def errors(self, model: str) -> ErrorAccumulator:
        """The model's online errors over every meter (merged on demand: the hot path adds to one accumulator)."""
        total = ErrorAccumulator()
        for state in list(self.meters.values()):
            part = state.tracks[model].errors
            for name in ("count", "sum_sq", "sum_abs", "sum_abs_pct", "pct_count", "zero_targets"):
                setattr(total, name, getattr(total, name) + getattr(part, name))
        return total

    def _meter(self, meter: str) -> _Meter:
        state = self.meters.get(meter)
        if state is None:
            state = _Meter(
                MeterStream(self._dedupe, self._max_gap, self._needed),
                {m.name: _ModelTrack(RingBuffer(m.entry.window.seq_len, m.entry.window.n_features)) for m in self.models},
            )
            self.meters[meter] = state
        return state

    def process(self, reading: Reading) -> Step:
        state = self._meter(reading.meter)
        update = state.stream.accept(reading.minute, reading.values)
        if update.outcome is not Outcome.ACCEPTED:
            return Step(update, [], [], [])
        dropped = self._reset(state) if update.reset else []
        scored = []
        predictions = []
        target = MEASUREMENTS.index("gap")
        for model in self.models:
            track = state.tracks[model.name]
            track.features.extend(model_rows(model, update.minutes, update.rows))
            for minute, row, filled in zip(update.minutes, update.rows, update.filled):
                done = track.pending.pop(int(minute), None)
                if done is None or (filled and model.entry.window.fill_policy is FillPolicy.DROP):
                    continue
                actual = float(row[target])
                track.errors.add(done.predicted_kw, actual)
                scored.append(Prediction(**{**done.__dict__, "actual_kw": actual}))
            prediction = self._predict(reading, model, track, state.stream)
            if prediction is not None:
                track.pending[prediction.target_minute] = prediction
                predictions.append(prediction)
        return Step(update, predictions, scored, dropped)

    def _predict(self, reading: Reading, model: LoadedModel, track: _ModelTrack, stream: MeterStream):
        spec = model.entry.window
        n_real = min(stream.rows_since_reset, spec.seq_len)
        if n_real < MIN_HISTORY or (spec.fill_policy is FillPolicy.DROP and stream.filled_recently(spec.seq_len)):
            return None
        window = pre_pad(track.features.last(n_real), spec.seq_len)[None]
        cpu_start, start = time.thread_time_ns(), time.perf_counter_ns()
        scaled = model.predictor.predict(window, np.array([n_real]))
        latency, cpu = time.perf_counter_ns() - start, time.thread_time_ns() - cpu_start
        kw = float(model.scaling.inverse_target(scaled[0]))
        return Prediction(reading.meter, model.name, reading.minute, reading.minute + spec.horizon, kw, latency, cpu)

    @staticmethod
    def _reset(state: _Meter) -> list[Prediction]:
        dropped = []
        for track in state.tracks.values():
            dropped.extend(track.pending.values())
            track.pending.clear()
            track.features.clear()
        return dropped
