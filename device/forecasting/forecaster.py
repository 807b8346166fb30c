"""The agent's core without any MQTT: readings in, predictions and online scores out.

Per meter it keeps one :class:`~device.stream.MeterStream` and, per model, a ring buffer of that model's scaled
feature rows, so a window is a view of the newest ``seq_len`` rows. A prediction made at minute ``t`` waits until
the row for ``t + horizon`` exists, then it is scored with the same :class:`~device.scoring.ErrorAccumulator` the
host evaluation uses. Replaying a series through :meth:`Forecaster.process` therefore scores exactly the windows of
:func:`device.contract.streaming_windows` over that series.

A late real value for a forward-filled minute (:attr:`~device.stream.Outcome.REFILLED`) corrects the past: the
model feature rows still in the rings are rewritten, and the predictions that were scored against the filled value
are re-scored against the real one (``Step.rescored``). Forecasts already published stay as published; every
forecast whose window held a filled row says so (``Prediction.from_filled``).

Readings come in batches (whatever queued while the last batch ran): the stream bookkeeping stays per reading, but
the features, the windows, the model call and the scoring run once per meter and model for the whole batch, so a
busy agent pays numpy's and the runtime's per-call overhead once per batch instead of once per reading.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from device.contract import (
    CALENDAR_FEATURES,
    MEASUREMENTS,
    MIN_HISTORY,
    TARGET,
    FillPolicy,
    feature_matrix,
    window_rows,
)
from device.forecasting.ringbuffer import RingBuffer
from device.forecasting.series import SeriesForecast, SeriesTrack
from device.forecasting.stream import MeterStream, Outcome, StreamUpdate, forget_through
from device.models.load import LoadedModel
from device.readings import Reading
from device.scoring import ErrorAccumulator

log = logging.getLogger(__name__)
_TARGET_COLUMN = MEASUREMENTS.index(TARGET)
#: Series windows (a week of rows each) are cut and predicted this many at a time, so a large batch of readings does
#: not hold hundreds of week-long windows at once.
SERIES_CHUNK = 64
#: The thread's CPU clock is a system call (slow where a virtual machine or a busy core makes it one): read it on
#: one model call in this many, which is plenty for a median.
CPU_SAMPLE_EVERY = 8


@dataclass(frozen=True)
class Prediction:
    meter: str
    model: str
    minute: int  # the newest reading in the window
    target_minute: int
    predicted_kw: float
    latency_ns: int  # wall time of the model call per window (the batch's time over its windows)
    cpu_ns: int  # this thread's CPU time for the same (the energy proxy's input); -1 where not sampled
    actual_kw: float | None = None  # set once scored
    from_filled: bool = False  # its window held a forward-filled row (an absent minute, or a null in a reading)


@dataclass
class ModelTrack:
    """One model's view of one meter: its scaled feature rows and its predictions waiting for their target."""

    features: RingBuffer
    pending: dict[int, Prediction] = field(default_factory=dict)
    errors: ErrorAccumulator = field(default_factory=ErrorAccumulator)
    #: target minute -> the prediction that came due on a filled row (scored against the filled value, or not
    #: scored at all for a DROP model), kept within the dedupe horizon in case the real value arrives late
    on_filled: dict[int, Prediction] = field(default_factory=dict)
    #: a series model's forecasts waiting for their last minute and its per-step scores (None for a point model)
    series: SeriesTrack | None = None


@dataclass
class _Meter:
    stream: MeterStream
    tracks: dict[str, ModelTrack]


@dataclass(frozen=True)
class Step:
    """Everything one reading caused."""

    update: StreamUpdate
    predictions: list[Prediction]
    scored: list[Prediction]
    dropped: list[Prediction]  # pending predictions whose meter was reset or evicted before their target arrived
    rescored: list[Prediction] = field(default_factory=list)  # scored again: the real actual arrived late
    series: list[SeriesForecast] = field(default_factory=list)  # series forecasts made at this reading
    series_scored: list[SeriesForecast] = field(default_factory=list)  # series forecasts its row completed


@dataclass
class _Accepted:
    """A reading the stream took, with what its windows need to know about the stream at that moment."""

    index: int  # position in the batch
    update: StreamUpdate
    filled_recently: dict[int, bool]  # seq_len -> any filled row among the newest seq_len


def model_rows(model: LoadedModel, minutes: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Scaled feature rows of ``model`` for raw minute rows: the contract's feature_matrix, then its scaling;
    ``minutes`` are on the household's wall clock, as the training file's were (they only feed calendar features)."""
    columns = {name: rows[:, i] for i, name in enumerate(MEASUREMENTS)}
    return model.scaling.transform(feature_matrix(columns, minutes, model.entry.window.features))


class Forecaster:
    """Several models side by side over many meters, at most ``max_meters`` of them (the least recently heard
    meter is evicted to admit a new one)."""

    def __init__(
        self,
        models: list[LoadedModel],
        max_gap_minutes: int,
        dedupe_minutes: int = 1440,
        max_meters: int = 10_000,
        local_minutes: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        """``local_minutes`` maps the stream's UTC minutes to the household's wall-clock minutes for the calendar
        features (default: none, the minutes are used as they are)."""
        self._household_minutes = local_minutes
        self._max_gap = max_gap_minutes
        self._dedupe_minutes = dedupe_minutes
        self.max_meters = max_meters
        self.meters: dict[str, _Meter] = {}  # least recently heard first
        self.evicted_meters = 0
        self._calls: dict[str, int] = {}  # model calls so far, for sampling the CPU clock per model
        #: per series model, readings at which it made no forecast because its meter had less than a window of
        #: history since its last reset (a week for the next-hour model)
        self.short_history: Counter[str] = Counter()
        self._short_history_logged: set[tuple[str, str]] = set()
        self._configure(models)

    def _configure(self, models: list[LoadedModel]) -> None:
        """Everything that follows from the model set: at start, and again when the models are swapped."""
        self.models = models
        uses_calendar = any(set(m.entry.window.features) & set(CALENDAR_FEATURES) for m in models)
        self._local_minutes = self._household_minutes if uses_calendar else None
        self._needed = tuple(sorted({m for model in models for m in model.needed_measurements}, key=MEASUREMENTS.index))
        self._dedupe = max(self._dedupe_minutes, *(model.entry.window.seq_len for model in models))
        self._window_lengths = sorted({m.entry.window.seq_len for m in models})
        self._calls = {m.name: self._calls.get(m.name, 0) for m in models}

    def swap_models(self, models: list[LoadedModel]) -> list[Prediction]:
        """Run ``models`` from now on (call between batches). Every meter keeps its stream; a model whose
        :class:`LoadedModel` object stays (the reload planner keeps an unchanged model's object) keeps its track on
        every meter (window, pending predictions, scores), any other model starts an empty one: its window fills
        again and its scores start fresh. Returns the pending predictions of the tracks let go (of the changed and
        the dropped models), unscored, for the predictions file."""
        running = {m.name: m for m in self.models}
        kept = {m.name for m in models if running.get(m.name) is m}
        let_go: list[Prediction] = []
        for name in running.keys() - kept:
            self._calls.pop(name, None)
            for state in self.meters.values():
                let_go.extend(state.tracks[name].pending.values())
        self._configure(models)
        for state in self.meters.values():
            state.tracks = {m.name: state.tracks[m.name] if m.name in kept else self._new_track(m) for m in models}
            state.stream.reconfigure(self._dedupe, self._needed)
        return let_go

    def errors(self, model: str) -> ErrorAccumulator:
        """The model's online errors over every meter (merged on demand: the hot path adds to one accumulator)."""
        total = ErrorAccumulator()
        for state in list(self.meters.values()):
            part = state.tracks[model].errors
            for name in ("count", "sum_sq", "sum_abs", "sum_abs_pct", "pct_count", "zero_targets"):
                setattr(total, name, getattr(total, name) + getattr(part, name))
        return total

    def process(self, reading: Reading) -> Step:
        return self.process_batch([reading])[0]

    def process_batch(self, readings: Sequence[Reading]) -> list[Step]:
        """One :class:`Step` per reading, in order; readings of one meter are handled in their arrival order."""
        by_meter: dict[str, list[int]] = {}
        for i, reading in enumerate(readings):
            by_meter.setdefault(reading.meter, []).append(i)
        steps: list[Step] = [None] * len(readings)  # type: ignore[list-item]
        for meter, indices in by_meter.items():
            evicted = self._admit(meter)
            for i, step in zip(indices, self._process_meter(self.meters[meter], [readings[i] for i in indices])):
                steps[i] = step
            steps[indices[0]].dropped.extend(evicted)
        return steps

    def _admit(self, meter: str) -> list[Prediction]:
        """Make ``meter`` the most recently heard one, creating it (and evicting the stalest) if it is new."""
        state = self.meters.pop(meter, None)
        dropped: list[Prediction] = []
        if state is None:
            if len(self.meters) >= self.max_meters:
                stalest = next(iter(self.meters))
                dropped = self._reset(self.meters.pop(stalest))
                self.evicted_meters += 1
            state = self._new_meter()
        self.meters[meter] = state
        return dropped

    def _new_meter(self) -> _Meter:
        return _Meter(
            MeterStream(self._dedupe, self._max_gap, self._needed), {m.name: self._new_track(m) for m in self.models}
        )

    @staticmethod
    def _new_track(model: LoadedModel) -> ModelTrack:
        spec = model.entry.window
        series = SeriesTrack(spec.series, model.entry.quantiles) if spec.series is not None else None
        return ModelTrack(RingBuffer(spec.seq_len, spec.n_features), series=series)

    def series_scores(self, model: str) -> dict[str, Any] | None:
        """A series model's per-step online scores over every meter (None for a point model)."""
        tracks = [s.tracks[model].series for s in list(self.meters.values())]
        scored = [t for t in tracks if t is not None]
        entry = next(m.entry for m in self.models if m.name == model)
        if entry.window.series is None:
            return None
        total = SeriesTrack(entry.window.series, entry.quantiles).scores
        for track in scored:
            total.merge(track.scores)
        return total.per_step()

    def _process_meter(self, state: _Meter, readings: list[Reading]) -> list[Step]:
        steps: list[Step] = []
        segment: list[_Accepted] = []
        for i, reading in enumerate(readings):
            update = state.stream.accept(reading.minute, reading.values, reading.held)
            steps.append(Step(update, [], [], []))
            if update.outcome is Outcome.REFILLED:  # corrects rows already fed: finish the segment first
                self._run_segment(state, readings[0].meter, segment, steps)
                segment = []
                self._refill(state, update, steps[i])
            if update.outcome is not Outcome.ACCEPTED:
                continue
            if update.reset:  # the history before this reading is gone: finish what came before, then forget it
                self._run_segment(state, readings[0].meter, segment, steps)
                segment = []
                steps[i].dropped.extend(self._reset(state))
            segment.append(_Accepted(i, update, {n: state.stream.filled_recently(n) for n in self._window_lengths}))
        self._run_segment(state, readings[0].meter, segment, steps)
        return steps

    def _run_segment(self, state: _Meter, meter: str, segment: list[_Accepted], steps: list[Step]) -> None:
        """Feed the rows of consecutive accepted readings (no reset among them) to every model at once."""
        if not segment:
            return
        updates = [a.update for a in segment]
        minutes = np.concatenate([u.minutes for u in updates])
        rows = np.concatenate([u.rows for u in updates])
        filled = np.concatenate([u.filled for u in updates])
        lengths = [len(u.minutes) for u in updates]
        ends = np.cumsum(lengths) - 1  # each reading's own row
        owner = np.repeat([a.index for a in segment], lengths).tolist()  # the reading each row came with
        wall_minutes = self._wall_clock(minutes)
        for model in self.models:
            track = state.tracks[model.name]
            spec = model.entry.window
            features = model_rows(model, wall_minutes, rows)
            if track.series is not None:
                self._run_series(model, meter, track, track.series, segment, features, minutes, rows, steps)
                continue
            # The rows this model has seen since the meter's last reset: the stream's, unless the model came in later
            # (a reload, a model changed since the state was saved), whose window starts empty like a new meter's.
            n_real = np.minimum(track.features.size + ends + 1, spec.seq_len)
            ok = n_real >= MIN_HISTORY
            from_filled = np.array([a.filled_recently[spec.seq_len] for a in segment])
            if spec.fill_policy is FillPolicy.DROP:
                ok &= ~from_filled
            windows = self._windows(track.features, features, ends[ok], spec.seq_len)
            track.features.extend(features)
            predicted = self._predict(model, windows, n_real[ok])
            made = {end: (*p, bool(f)) for end, p, f in zip(ends[ok].tolist(), predicted, from_filled[ok].tolist())}
            self._score_and_queue(model, meter, track, minutes, rows[:, _TARGET_COLUMN], filled, owner, made, steps)
            forget_through(track.on_filled, int(minutes[-1]) - self._dedupe)

    def _run_series(
        self,
        model: LoadedModel,
        meter: str,
        track: ModelTrack,
        series: SeriesTrack,
        segment: list[_Accepted],
        features: np.ndarray,
        minutes: np.ndarray,
        rows: np.ndarray,
        steps: list[Step],
    ) -> None:
        """A series model over a segment: a forecast at each reading whose meter has a full window behind it, then
        the rows in time order complete (and score) the forecasts that waited for them."""
        spec = model.entry.window
        assert spec.series is not None
        lengths = [len(a.update.minutes) for a in segment]
        ends = np.cumsum(lengths) - 1
        n_real = track.features.size + ends + 1
        from_filled = np.array([a.filled_recently[spec.seq_len] for a in segment])
        ok = n_real >= spec.seq_len
        if spec.fill_policy is FillPolicy.DROP:
            ok &= ~from_filled
        short = int((n_real < spec.seq_len).sum())
        if short:
            self._count_short_history(model.name, meter, short, int(n_real.max()), spec.seq_len)
        forecasts: dict[int, SeriesForecast] = {}
        chosen = np.flatnonzero(ok)
        for first in range(0, len(chosen), SERIES_CHUNK):
            part = chosen[first : first + SERIES_CHUNK]
            windows = self._windows(track.features, features, ends[part], spec.seq_len)
            for i, (kw, latency, cpu) in zip(part.tolist(), self._predict_series(model, windows), strict=True):
                end = int(ends[i])
                forecasts[end] = SeriesForecast(
                    meter,
                    model.name,
                    int(minutes[end]),
                    spec.series,
                    model.entry.quantiles,
                    kw,
                    latency,
                    cpu,
                    bool(from_filled[i]),
                )
        track.features.extend(features)
        owner = np.repeat([a.index for a in segment], lengths).tolist()
        for row, (minute, actual) in enumerate(zip(minutes.tolist(), rows[:, _TARGET_COLUMN].tolist())):
            done = series.take_row(minute, actual)
            if done is not None:
                steps[owner[row]].series_scored.append(done)
            made = forecasts.get(row)
            if made is not None:
                series.queue(made)
                steps[owner[row]].series.append(made)

    def _count_short_history(self, model: str, meter: str, readings: int, rows: int, needed: int) -> None:
        """Count readings a series model held back for lack of history; say so once per meter and model."""
        self.short_history[model] += readings
        if (meter, model) not in self._short_history_logged:
            self._short_history_logged.add((meter, model))
            log.info(
                "meter %s: %s forecasts once the meter has %d minutes of history since its last reset (%d so far)",
                meter,
                model,
                needed,
                rows,
            )

    def _predict_series(self, model: LoadedModel, windows: np.ndarray) -> list[tuple[np.ndarray, int, int]]:
        """(kW (steps, quantiles), latency ns, CPU ns or -1) per window, from one model call."""
        if len(windows) == 0:
            return []
        kw, latency, cpu = self._timed_call(model, windows, np.full(len(windows), windows.shape[1]))
        return [(kw[i], latency, cpu) for i in range(len(windows))]

    def _timed_call(self, model: LoadedModel, windows: np.ndarray, n_real: np.ndarray) -> tuple[np.ndarray, int, int]:
        """The model's kW for ``windows`` in one call, with the latency and (every CPU_SAMPLE_EVERY calls, else -1)
        the CPU time per window; the clocks are read once per call, not per window."""
        self._calls[model.name] += 1
        sample_cpu = self._calls[model.name] % CPU_SAMPLE_EVERY == 1
        cpu_start = time.thread_time_ns() if sample_cpu else 0
        start = time.perf_counter_ns()
        scaled = model.predictor.predict(np.ascontiguousarray(windows), n_real)
        latency = (time.perf_counter_ns() - start) // len(windows)
        cpu = (time.thread_time_ns() - cpu_start) // len(windows) if sample_cpu else -1
        return model.scaling.inverse_target(scaled), latency, cpu

    def _wall_clock(self, minutes: np.ndarray) -> np.ndarray:
        """The household's wall-clock minutes of the stream's UTC ``minutes``, which the calendar features need."""
        return minutes if self._local_minutes is None else self._local_minutes(minutes)

    def _refill(self, state: _Meter, update: StreamUpdate, step: Step) -> None:
        """A late real value replaced filled rows: rewrite them in every model's feature ring (where still held) and
        re-score the predictions that came due on them."""
        newest = state.stream.last_minute
        wall_minutes = self._wall_clock(update.minutes)
        for model in self.models:
            track = state.tracks[model.name]
            for minute, features in zip(update.minutes.tolist(), model_rows(model, wall_minutes, update.rows)):
                if newest - minute < track.features.size:
                    track.features.set_ago(newest - minute, features)
            if track.series is not None and newest is not None:
                track.series.refill(newest, update.minutes, update.rows[:, _TARGET_COLUMN])
                continue
            drop_filled = model.entry.window.fill_policy is FillPolicy.DROP
            for minute, actual, still_filled in zip(
                update.minutes.tolist(), update.rows[:, _TARGET_COLUMN].tolist(), update.filled.tolist()
            ):
                done = track.on_filled.get(minute)
                if done is None or (drop_filled and still_filled):
                    continue
                if done.actual_kw is None:  # a DROP model did not score it against the filled value
                    track.errors.add([done.predicted_kw], [actual])
                else:
                    track.errors.replace(done.predicted_kw, done.actual_kw, actual)
                rescored = replace(done, actual_kw=actual)
                if still_filled:  # the minute may get its own real value later still
                    track.on_filled[minute] = rescored
                else:
                    del track.on_filled[minute]
                step.rescored.append(rescored)

    @staticmethod
    def _windows(history: RingBuffer, features: np.ndarray, ends: np.ndarray, seq_len: int) -> np.ndarray:
        """The contract's window ending at each of ``ends`` (rows of ``features``), the ring's rows before them: it
        holds only rows since the last reset, so missing history is zero-padded."""
        return window_rows(features, ends, seq_len, earlier=history.last(min(history.size, seq_len - 1)))

    def _predict(self, model: LoadedModel, windows: np.ndarray, n_real: np.ndarray) -> list[tuple[float, int, int]]:
        """(kW, latency ns, CPU ns or -1) per window, from one model call."""
        if len(windows) == 0:
            return []
        kw, latency, cpu = self._timed_call(model, windows, n_real)
        return [(k, latency, cpu) for k in kw.tolist()]

    @staticmethod
    def _score_and_queue(
        model: LoadedModel,
        meter: str,
        track: ModelTrack,
        minutes: np.ndarray,
        actual_kw: np.ndarray,
        filled: np.ndarray,
        owner: list[int],
        made: dict[int, tuple[float, int, int, bool]],
        steps: list[Step],
    ) -> None:
        """Walk the rows in time order: score the prediction each row was the target of, queue the one it made."""
        drop_filled = model.entry.window.fill_policy is FillPolicy.DROP
        horizon = model.entry.window.horizon
        predicted, actual = [], []
        for row, (minute, value, was_filled) in enumerate(zip(minutes.tolist(), actual_kw.tolist(), filled.tolist())):
            done = track.pending.pop(minute, None)
            if done is not None and not (was_filled and drop_filled):
                predicted.append(done.predicted_kw)
                actual.append(value)
                done = Prediction(
                    done.meter,
                    done.model,
                    done.minute,
                    done.target_minute,
                    done.predicted_kw,
                    done.latency_ns,
                    done.cpu_ns,
                    value,
                    done.from_filled,
                )  # replace() costs 4x more
                steps[owner[row]].scored.append(done)
            if done is not None and was_filled:
                track.on_filled[minute] = done
            if row in made:
                kw, latency, cpu, from_filled = made[row]
                prediction = Prediction(
                    meter, model.name, minute, minute + horizon, kw, latency, cpu, from_filled=from_filled
                )
                track.pending[prediction.target_minute] = prediction
                steps[owner[row]].predictions.append(prediction)
        if predicted:
            track.errors.add(predicted, actual)

    def state(self) -> dict[str, Any]:
        """Every meter's stream, windows, pending predictions and scores, as JSON-ready values (stalest first)."""

        def track_state(track: ModelTrack) -> dict[str, Any]:
            return {
                "features": track.features.last(track.features.size).tolist(),
                "pending": [
                    [p.minute, p.target_minute, p.predicted_kw, p.latency_ns, p.cpu_ns] for p in track.pending.values()
                ],
                "errors": asdict(track.errors),
                "on_filled": [
                    [p.minute, p.target_minute, p.predicted_kw, p.latency_ns, p.cpu_ns, p.actual_kw]
                    for p in track.on_filled.values()
                ],
            }

        return {
            "evicted_meters": self.evicted_meters,
            "meters": {
                name: {"stream": m.stream.state(), "tracks": {model: track_state(t) for model, t in m.tracks.items()}}
                for name, m in self.meters.items()
            },
        }

    def restore(self, state: dict[str, Any], models: set[str]) -> None:
        """Take over a saved :meth:`state`; only the tracks of ``models`` (those whose window and scaling are
        unchanged) are restored, the others start empty. Raises KeyError/TypeError/ValueError on a malformed
        state, leaving this forecaster as it was."""
        meters: dict[str, _Meter] = {}
        for name, saved in list(state["meters"].items())[-self.max_meters :]:
            meter = meters[name] = self._new_meter()
            meter.stream.restore(saved["stream"])
            for model in models:
                track, saved_track = meter.tracks[model], saved["tracks"][model]
                track.features.restore(np.array(saved_track["features"], np.float32))
                track.pending = {
                    int(target): Prediction(name, model, int(minute), int(target), float(kw), int(lat), int(cpu))
                    for minute, target, kw, lat, cpu in saved_track["pending"]
                }
                track.errors = ErrorAccumulator(**saved_track["errors"])
                track.on_filled = {
                    int(target): Prediction(
                        name,
                        model,
                        int(minute),
                        int(target),
                        float(kw),
                        int(lat),
                        int(cpu),
                        None if actual is None else float(actual),
                    )
                    for minute, target, kw, lat, cpu, actual in saved_track.get("on_filled", [])
                }
        self.meters = meters
        self.evicted_meters = int(state["evicted_meters"])

    @staticmethod
    def _reset(state: _Meter) -> list[Prediction]:
        dropped: list[Prediction] = []
        for track in state.tracks.values():
            dropped.extend(track.pending.values())
            track.pending.clear()
            track.features.clear()
            if track.series is not None:
                track.series.reset()  # never scored; they were published when made
        return dropped
