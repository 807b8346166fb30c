"""What the agent counts and measures, and the JSON snapshot it publishes (the report consumes this schema).

Latencies go into fixed-size numpy rings (percentiles over the newest samples, no growth); RSS is read from
``/proc`` and ``getrusage`` when a snapshot is taken, never per reading; Python allocations are traced only for a
sample (tracemalloc slows every allocation while it runs).
"""

from __future__ import annotations

import resource
import sys
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from device.energy import M4F, PI4B, energy, mcu_time, measured_cpu_time
from device.forecasting.forecaster import Forecaster, ModelTrack, Prediction
from device.forecasting.ringbuffer import RingBuffer
from device.forecasting.series import SeriesForecast
from device.forecasting.stream import Outcome, StreamUpdate
from device.models.reload import ReloadPlan
from device.scoring import ErrorAccumulator

#: ``refilled`` readings are counted in ``accepted`` too: late real values that replaced forward-filled minutes.
READING_COUNTERS = ("received", "accepted", "duplicates", "late", "refilled", "filled_minutes", "null_values")
_PAGE = resource.getpagesize()


class LatencyRing:
    """The newest ``capacity`` samples in ns, plus the maximum ever seen."""

    def __init__(self, capacity: int) -> None:
        self._ring = RingBuffer(capacity, 1, np.int64)
        self.max_ns = 0

    def extend(self, ns: np.ndarray) -> None:
        if len(ns):
            self._ring.extend(ns[:, None])
            self.max_ns = max(self.max_ns, int(ns.max()))

    def median_ns(self) -> float:
        return float(np.median(self._ring.last(self._ring.size))) if self._ring.size else float("nan")

    def summary_us(self) -> dict[str, float | None]:
        if not self._ring.size:
            return {"p50": None, "p95": None, "p99": None, "max": None}
        p50, p95, p99 = np.percentile(self._ring.last(self._ring.size), [50, 95, 99]) / 1e3
        return {"p50": float(p50), "p95": float(p95), "p99": float(p99), "max": self.max_ns / 1e3}


def rss_bytes() -> tuple[int, int]:
    """(current, peak) resident set size of this process."""
    current = int(Path("/proc/self/statm").read_text().split()[1]) * _PAGE if sys.platform == "linux" else 0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)
    return current, max(peak, current)  # the kernel updates its high-water mark lazily


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _errors(acc: ErrorAccumulator) -> dict[str, Any]:
    def num(v: float) -> float | None:
        return None if np.isnan(v) else v

    return {"scored": acc.count, "mse": num(acc.mse), "rmse": num(acc.rmse), "mae": num(acc.mae), "mape": num(acc.mape)}


def _track_scores(track: ModelTrack) -> dict[str, Any]:
    """A meter's online scores of one model: a point model's errors, or a series model's per-step scores
    (``series``: n, mse/mae/pinball/coverage per step and their means, as :class:`~device.series_scoring.SeriesScores`
    reports them offline)."""
    if track.series is None:
        return _errors(track.errors)
    return {"scored": track.series.scores.count, "series": track.series.scores.per_step()}


class AgentMetrics:
    """Counters, latencies and the snapshot; thread-safe because the MQTT thread counts rejections too."""

    def __init__(self, agent_id: str, forecaster: Forecaster, latency_window: int, tracemalloc_readings: int) -> None:
        self.agent_id = agent_id
        self._forecaster = forecaster
        self._started = time.monotonic()
        self._lock = threading.Lock()
        self.readings: Counter[str] = Counter({k: 0 for k in READING_COUNTERS})
        self.rejected: Counter[str] = Counter()
        self.publish: Counter[str] = Counter()
        self._predictions: Counter[str] = Counter()
        self._from_filled: Counter[str] = Counter()  # published forecasts whose window held a filled row
        self._rescored: Counter[str] = Counter()  # scored predictions whose actual was replaced by a late real value
        self._latency_window = latency_window
        self._latency: dict[str, LatencyRing] = {}
        self._cpu: dict[str, LatencyRing] = {}
        self._end_to_end: dict[str, LatencyRing] = {}
        for model in forecaster.models:
            self._start_model(model.name)
        self._trace_left = tracemalloc_readings
        self.meters_evicted = 0
        self.inbox_waits = 0  # times the network thread waited for room in the inbox
        self.state: dict[str, Any] = {"restore": "off", "saves": 0, "failed": 0, "bytes": 0, "last_save_ms": None}
        #: model reloads (device/models/reload.py): "last" is what the newest one changed, or why it was refused
        self.reloads: dict[str, Any] = {"done": 0, "refused": 0, "last": None}
        self._trace_peak = 0  # the caller starts tracemalloc (before loading models) when it wants a sample

    def _forget_model(self, name: str) -> None:
        for per_model in (
            self._latency,
            self._cpu,
            self._end_to_end,
            self._predictions,
            self._from_filled,
            self._rescored,
        ):
            per_model.pop(name, None)

    def _start_model(self, name: str) -> None:
        """Empty rings and counters for a model: at start, and for a model a reload added or changed (whose
        figures would otherwise mix two models)."""
        self._forget_model(name)
        for rings in (self._latency, self._cpu, self._end_to_end):
            rings[name] = LatencyRing(self._latency_window)

    def reloaded(self, plan: ReloadPlan) -> None:
        """Follow a reload the forecaster took: fresh figures for added and changed models, none for dropped ones."""
        with self._lock:
            for name in plan.dropped:
                self._forget_model(name)
            for name in plan.added + plan.changed:
                self._start_model(name)
            self.reloads["done"] += 1
            self.reloads["last"] = {
                "at": _utc_now(),
                "added": plan.added,
                "changed": plan.changed,
                "dropped": plan.dropped,
                "unchanged": len(plan.unchanged),
            }

    def reload_refused(self, reason: str) -> None:
        with self._lock:
            self.reloads["refused"] += 1
            self.reloads["last"] = {"at": _utc_now(), "refused": reason}

    def count_batch(
        self,
        updates: list[StreamUpdate],
        published: Sequence[tuple[Prediction | SeriesForecast, int, int]],
        evicted_meters: int,
        rescored: Sequence[Prediction] = (),
    ) -> None:
        """Count one batch: what the stream did with each reading, each prediction with (received ns,
        published ns) of its reading, for the end-to-end latency, and the predictions re-scored."""
        by_model: dict[str, list[tuple[int, int, int]]] = {}
        for prediction, received_ns, published_ns in published:
            by_model.setdefault(prediction.model, []).append(
                (prediction.latency_ns, prediction.cpu_ns, published_ns - received_ns)
            )
        with self._lock:
            for update in updates:
                self.readings["received"] += 1
                self.readings["null_values"] += update.nulls
                if update.outcome is Outcome.UNFILLABLE:
                    self.rejected["null_without_history"] += 1
                elif update.outcome is Outcome.REFILLED:
                    self.readings["accepted"] += 1
                    self.readings["refilled"] += 1
                else:
                    self.readings[update.outcome.value] += 1
                    self.readings["filled_minutes"] += max(len(update.rows) - 1, 0)
            self.meters_evicted = evicted_meters
            self._rescored.update(p.model for p in rescored)
            self._from_filled.update(p.model for p, _, _ in published if p.from_filled)
            for model, samples in by_model.items():
                latency, cpu, end_to_end = np.array(samples, np.int64).T
                self._predictions[model] += len(samples)
                self._latency[model].extend(latency)
                self._cpu[model].extend(cpu[cpu >= 0])  # only sampled model calls read the CPU clock
                self._end_to_end[model].extend(end_to_end)
            self._sample_allocations(len(updates))

    def _sample_allocations(self, readings: int) -> None:
        if self._trace_left <= 0:
            return
        self._trace_left -= readings
        if self._trace_left <= 0:
            self.end_allocation_sample()

    def end_allocation_sample(self) -> None:
        """Keep the traced peak and stop tracing: after the sample's readings, or when the agent stops before them
        (tracing slows every Python allocation of the process, which may be someone else's program)."""
        self._trace_left = 0
        if tracemalloc.is_tracing():
            self._trace_peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()

    def _model(self, name: str) -> dict[str, Any]:
        model = next(m for m in self._forecaster.models if m.name == name)
        cpu_ns = self._cpu[name].median_ns()
        times = {PI4B: None if np.isnan(cpu_ns) else measured_cpu_time(cpu_ns / 1e9), M4F: mcu_time(model.entry, M4F)}
        series = self._forecaster.series_scores(name)
        scores = (
            _errors(self._forecaster.errors(name))
            if series is None
            else {
                "scored": series["n"],
                "series": series,
                "waiting_for_history": self._forecaster.short_history[name],
            }
        )
        return {
            "kind": model.entry.kind,
            "runtime": model.runtime,
            "runtime_note": model.runtime_note,
            "predictions": self._predictions[name],
            "forecasts_from_filled_input": self._from_filled[name],
            "rescored": self._rescored[name],
            **scores,
            "latency_us": self._latency[name].summary_us(),
            "end_to_end_us": self._end_to_end[name].summary_us(),
            "flash_bytes": model.flash_bytes,
            "arena_bytes": model.arena_bytes,
            "macs": model.entry.macs,
            "energy": {device.profile: energy(device, time).to_dict() for device, time in times.items() if time},
        }

    def snapshot(self, intake_rejected: Counter[str] | None = None, rejected_readings: int = 0) -> dict[str, Any]:
        """Everything, JSON-ready. ``intake_rejected``: the messages the sources rejected, by reason (counted there,
        once, and summed here with the streams' own); ``rejected_readings``: how many of them were whole readings
        (wattcast messages, which count as received readings)."""
        rss, peak = rss_bytes()
        traced = tracemalloc.get_traced_memory()[1] if tracemalloc.is_tracing() else self._trace_peak
        with self._lock:
            return {
                "agent_id": self.agent_id,
                "uptime_s": time.monotonic() - self._started,
                "readings": {**self.readings, "received": self.readings["received"] + rejected_readings},
                "rejected": dict(self.rejected + (intake_rejected or Counter())),
                "meters_evicted": self.meters_evicted,
                "inbox_waits": self.inbox_waits,
                "state": dict(self.state),
                "reloads": dict(self.reloads),
                "publish": dict(self.publish),
                "process": {"rss_bytes": rss, "peak_rss_bytes": peak, "tracemalloc_peak_bytes": traced},
                "models": {m.name: self._model(m.name) for m in self._forecaster.models},
                "meters": {
                    meter: {name: _track_scores(track) for name, track in state.tracks.items()}
                    for meter, state in list(self._forecaster.meters.items())
                },
            }
