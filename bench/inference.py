"""Per-model inference latency on the same windows: the agent's predictors (LiteRT int8/float, numpy), the int8
models again on TFLM's interpreter (the agent's ``--runtime tflm``), and Keras ``model(x)`` (the seed notebook's way)
for the ratio.

``python -m bench.inference --help``. Prints a Markdown table; the numbers are medians over ``--repeats`` runs.
Without ``--keras``, the Keras row is the seed LSTM's architecture with untrained weights: its speed does not depend
on the weights, and it needs no training run.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from convert.entry_fields import is_int8_tflite
from device.contract import MEASUREMENTS, WindowSpec, feature_matrix, streaming_windows
from device.models.families.tflite import TFLM
from device.models.load import LoadedModel, load_models
from device.models.manifest import DEFAULT_ASSETS, load_manifest
from device.options import build_parser, option, parse_options
from train.data import DEFAULT_DATA, load_measurements

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InferenceBenchConfig:
    assets: Path = option(DEFAULT_ASSETS, "folder with manifest.json")
    models: tuple[str, ...] = option((), "manifest model names; none: every model in the manifest")
    keras: Path | None = option(
        None,
        "a .keras model (with its hand-over .json) for the Keras ratio; unset: the seed LSTM's architecture, untrained",
    )
    keras_row: bool = option(True, "time Keras model(x) too, for the ratio")
    data: Path = option(DEFAULT_DATA, "readings to cut windows from", exists=True)
    windows: int = option(2000, "windows per model")
    keras_windows: int = option(100, "windows for Keras, which is ~1000x slower")
    repeats: int = option(3, "runs per model; the median is shown")


@dataclass(frozen=True)
class Row:
    model: str
    runtime: str
    p50_us: float
    p99_us: float


def stream_windows(data: Path, spec: WindowSpec, scaling, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``count`` streaming windows of the data for one model (as the agent sees them)."""
    measurements, _ = load_measurements(data).fill()
    cols = {m: measurements.values[m] for m in MEASUREMENTS}
    feats = scaling.transform(feature_matrix(cols, measurements.minutes, spec.features))
    x, _, end_rows = streaming_windows(feats, scaling.transform_target(cols["gap"]), spec)
    return x[:count], np.minimum(end_rows[:count] + 1, spec.seq_len)


def time_calls(call: Callable[[int], object], n: int, repeats: int, label: str) -> tuple[float, float]:
    """Median over repeats of the p50 and p99 of single calls, in µs."""
    p50s, p99s = [], []
    for _ in range(repeats):
        samples = np.empty(n, np.int64)
        for i in tqdm(range(n), desc=label, leave=False, disable=None):
            start = time.perf_counter_ns()
            call(i)
            samples[i] = time.perf_counter_ns() - start
        p50, p99 = np.percentile(samples, [50, 99]) / 1e3
        p50s.append(p50)
        p99s.append(p99)
    return float(np.median(p50s)), float(np.median(p99s))


def _keras_call(path: Path | None, data: Path, count: int) -> tuple[Callable[[int], object], str]:
    """``model(x)`` one window at a time: a trained hand-over model, or the seed architecture untrained."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    if path is None:
        from train.models import build_seed_lstm

        spec = WindowSpec()
        model, name = build_seed_lstm(spec), "seed LSTM 5-3 (untrained weights)"
        x = np.random.default_rng(0).random((count, spec.seq_len, spec.n_features), np.float32)
    else:
        from train.artifacts import load_trained_model

        trained = load_trained_model(path.parent, path.stem)
        model, name = keras.models.load_model(path), path.stem
        x, _ = stream_windows(data, trained.window, trained.scaling, count)
    return (lambda i: model(x[i : i + 1])), name


def _timed(model: LoadedModel, config: InferenceBenchConfig) -> Row:
    x, n_real = stream_windows(config.data, model.entry.window, model.scaling, config.windows)
    predict = model.predictor.predict
    p50, p99 = time_calls(
        lambda i: predict(x[i : i + 1], n_real[i : i + 1]), len(x), config.repeats, f"{model.name} {model.runtime}"
    )
    return Row(model.name, model.runtime, p50, p99)


def run(config: InferenceBenchConfig) -> list[Row]:
    names = config.models or tuple(load_manifest(config.assets).models)
    rows = []
    for model in load_models(config.assets, names):
        rows.append(_timed(model, config))
        if is_int8_tflite(model.entry) and _has_tflm():
            (on_tflm,) = load_models(config.assets, (model.name,), runtime=TFLM)
            rows.append(_timed(on_tflm, config))
    if config.keras_row:
        call, name = _keras_call(config.keras, config.data, config.keras_windows)
        p50, p99 = time_calls(call, config.keras_windows, config.repeats, "keras")
        rows.append(Row(name, "keras model(x)", p50, p99))
    return rows


def _has_tflm() -> bool:
    return importlib.util.find_spec("tflite_micro") is not None


def table(rows: list[Row]) -> str:
    keras = next((r.p50_us for r in rows if r.runtime.startswith("keras")), None)
    lines = ["| model | runtime | p50 µs | p99 µs | Keras p50 / this p50 |", "|---|---|---:|---:|---:|"]
    for r in rows:
        ratio = f"{keras / r.p50_us:,.0f}×" if keras else "–"
        lines.append(f"| {r.model} | {r.runtime} | {r.p50_us:,.1f} | {r.p99_us:,.1f} | {ratio} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    config = parse_options(
        InferenceBenchConfig, argv, build_parser(InferenceBenchConfig, "python -m bench.inference", __doc__, "WARNING")
    )
    print(table(run(config)))


if __name__ == "__main__":
    main()
