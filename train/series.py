"""The next-hour series model: 12 five-minute means (minutes t+1..t+60) with P10/P50/P90 each, trained and scored
next to persistence, seasonal naive (yesterday; the mean of the last 7 days) and least squares on the same test
windows, one table per metric and step. Any other :class:`~device.contract.SeriesSpec` trains the same way
(:mod:`train.day_ahead`: the next day in 48 half-hours).

The model is linear on :func:`device.contract.series_inputs` (the last two hours in five-minute means, the same hour
yesterday and over the last week, the newest reading, the hour of day): least squares first, then each output is
fitted to its quantile by the pinball loss, then the intervals are calibrated on the chronological tail of the
training windows (conformalised quantile regression). Every test window is scored; training windows may be taken
one minute in ``--train-every`` (consecutive windows overlap in all but one minute).

Run ``python -m train.series --help``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import logging
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from device.contract import (
    CALENDAR_FEATURES,
    SERIES_SEQ_LEN,
    TARGET,
    MinMaxScaling,
    SeriesSpec,
    WindowSpec,
    feature_matrix,
    series_input_names,
    series_inputs,
    series_targets,
    series_window,
)
from device.models.families.series import QUANTILES, SeriesDocument, SeriesLinear, write_document
from device.options import build_parser as build_options_parser
from device.options import option, parse_options
from device.series_scoring import SeriesScores
from train.data import DEFAULT_DATA, PROTOCOLS, SplitSpec, load_split

log = logging.getLogger(__name__)
MODEL_NAME = "series_next_hour"
#: Windows turned into inputs at once: the gather behind them holds about 540 floats per window.
CHUNK = 50_000


@dataclass(frozen=True)
class SeriesConfig:
    """One run of a series model's training and evaluation (``--help`` is generated from it); the defaults are the
    next hour's (:mod:`train.day_ahead` declares the next day's)."""

    name: str = option(MODEL_NAME, "the model's name (its file and manifest entry)")
    data: Path = option(
        DEFAULT_DATA, "raw UCI file (.txt or .zip); the full file gives the documented table", exists=True
    )
    out: Path = option(Path("docs/series"), "where table.md and results.json go")
    model_dir: Path = option(Path("runs/series"), "where <name>.json (the hand-over to convert.series) goes")
    protocol: str = option(
        "fraction",
        "fraction: the first --train-fraction of the file to train, the rest to test (the split mcu_lstm_int8's "
        "0.1643 was measured on)",
        choices=PROTOCOLS,
    )
    train_fraction: float = option(0.8, "share of the rows to train on (fraction protocol)")
    step_minutes: int = option(5, "minutes per forecast step")
    steps: int = option(12, "forecast steps")
    calendar: tuple[str, ...] = option(
        ("hour_sin", "hour_cos"), "calendar features of the newest reading among the inputs", choices=CALENDAR_FEATURES
    )
    train_every: int = option(2, "take one training window in this many minutes (all test windows are scored)")
    calibration_fraction: float = option(
        0.25,
        "chronological tail of the training windows kept to calibrate (0.1 under-covered the test: 75.5%%)",
    )
    epochs: int = option(20, "pinball-loss epochs over the training windows")
    batch_size: int = option(4096, "pinball-loss batch size")
    learning_rate: float = option(1e-3, "Adam learning rate of the pinball fit")
    seed: int = option(0, "TensorFlow seed")

    @property
    def split(self) -> SplitSpec:
        return SplitSpec(self.data, self.protocol, train_fraction=self.train_fraction)

    @property
    def series(self) -> SeriesSpec:
        return SeriesSpec(self.step_minutes, self.steps)

    @property
    def window(self) -> WindowSpec:
        return series_window(self.series, (TARGET, *self.calendar))


@dataclass
class SeriesWindows:
    """Inputs (n, n_inputs) and targets (n, steps), scaled, of windows ending at ``ends`` (rows of the split)."""

    ends: np.ndarray
    inputs: np.ndarray
    targets: np.ndarray

    def part(self, rows: slice) -> SeriesWindows:
        return SeriesWindows(self.ends[rows], self.inputs[rows], self.targets[rows])


def cut_series_windows(rows: np.ndarray, ends: np.ndarray, spec: WindowSpec) -> SeriesWindows:
    """The contract's inputs and targets for windows ending at ``ends``, in chunks (bounded memory)."""
    assert spec.series is not None
    target = rows[:, spec.features.index(TARGET)]
    inputs = [series_inputs(rows, ends[i : i + CHUNK], spec) for i in range(0, len(ends), CHUNK)]
    width = len(series_input_names(spec))
    return SeriesWindows(
        ends,
        np.concatenate(inputs) if inputs else np.empty((0, width)),
        series_targets(target, ends, spec.series),
    )


def window_ends(train: slice, test: slice, horizon: int, train_every: int) -> tuple[np.ndarray, np.ndarray]:
    """Ends of training windows (every ``train_every``-th, targets inside the training rows) and of every test window
    (targets inside the test rows; inputs may reach back into the training rows, as a device's would)."""
    first = SERIES_SEQ_LEN - 1
    return (
        np.arange(max(first, train.start), train.stop - horizon, train_every),
        np.arange(max(first, test.start), test.stop - horizon),
    )


def least_squares(windows: SeriesWindows) -> tuple[np.ndarray, np.ndarray]:
    """Multi-output least squares: (coef (inputs, steps), intercept (steps,))."""
    design = np.hstack([windows.inputs, np.ones((len(windows.inputs), 1))])
    solution, *_ = np.linalg.lstsq(design, windows.targets, rcond=None)
    return solution[:-1], solution[-1]


def fit_pinball(windows: SeriesWindows, config: SeriesConfig) -> SeriesLinear:
    """Least squares, shifted by each step's residual quantiles, then every output refined on its pinball loss."""
    import tensorflow as tf  # only here: the rest of the module (and its tests) runs without TensorFlow

    try:  # one thread, for a reproducible fit; a process that already ran TensorFlow keeps its own setting
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        log.info("TensorFlow is already initialised in this process: its thread settings stay")
    tf.random.set_seed(config.seed)
    coef, intercept = least_squares(windows)
    residuals = windows.targets - (windows.inputs @ coef + intercept)
    shifts = np.quantile(residuals, QUANTILES, axis=0).T  # (steps, quantiles)
    steps, nq = config.steps, len(QUANTILES)
    kernel = np.repeat(coef, nq, axis=1)
    bias = (intercept[:, None] + shifts).reshape(-1)
    levels = tf.constant(np.tile(QUANTILES, steps), tf.float32)

    def loss(y: tf.Tensor, predicted: tf.Tensor) -> tf.Tensor:
        error = tf.repeat(y, nq, axis=1) - predicted
        return tf.reduce_mean(tf.maximum(levels * error, (levels - 1) * error))

    inputs = tf.keras.Input((windows.inputs.shape[1],))
    dense = tf.keras.layers.Dense(steps * nq)
    model = tf.keras.Model(inputs, dense(inputs))
    dense.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
    model.compile(tf.keras.optimizers.Adam(config.learning_rate), loss)
    model.fit(
        windows.inputs.astype(np.float32),
        windows.targets.astype(np.float32),
        batch_size=config.batch_size,
        epochs=config.epochs,
        shuffle=True,
        verbose=0,
    )
    fitted_kernel, fitted_bias = (w.astype(np.float64) for w in dense.get_weights())
    return SeriesLinear(config.window, QUANTILES, fitted_kernel, fitted_bias, np.zeros((steps, nq), np.float64))


def calibrated(model: SeriesLinear, calibration: SeriesWindows) -> SeriesLinear:
    """Widen (or narrow) each step's outer quantiles by the conformal margin that makes the interval hold its
    nominal share (0.8 for P10-P90) of the calibration windows."""
    predicted = model.predict_inputs(calibration.inputs)
    low, high = predicted[:, :, 0], predicted[:, :, -1]
    outside = np.maximum(low - calibration.targets, calibration.targets - high)
    nominal = model.quantiles[-1] - model.quantiles[0]
    margin = np.quantile(outside, min(1.0, nominal * (1 + 1 / len(outside))), axis=0)
    widen = np.zeros_like(model.widen)
    widen[:, 0], widen[:, -1] = -margin, margin
    return SeriesLinear(model.spec, model.quantiles, model.coef, model.intercept, widen)


#: A point forecast (n, steps) from the inputs: the baselines read theirs straight from the contract's columns.
PointFn = Callable[[np.ndarray], np.ndarray]


def baselines(spec: WindowSpec, fitting: SeriesWindows) -> dict[str, PointFn]:
    """The point forecasts compared with the model, on the same inputs."""
    names = series_input_names(spec)
    steps = fitting.targets.shape[1]
    last = names.index(f"{TARGET}_last")
    day = names.index(f"{TARGET}_1d_ago_step_1")
    week = names.index(f"{TARGET}_mean_7d_step_1")
    coef, intercept = least_squares(fitting)
    return {
        "persistence (last reading)": lambda x: np.repeat(x[:, last : last + 1], steps, axis=1),
        "seasonal naive (1 day ago)": lambda x: x[:, day : day + steps],
        "seasonal naive (mean of 7 days)": lambda x: x[:, week : week + steps],
        "least squares (multi-output)": lambda x: x @ coef + intercept,
    }


def with_spread(point: PointFn, calibration: SeriesWindows) -> Callable[[np.ndarray], np.ndarray]:
    """A point forecast with the quantiles of its own residuals on the calibration windows added per step, so every
    baseline has an interval and a pinball loss too (its median stays the point)."""
    residuals = calibration.targets - point(calibration.inputs)
    shifts = np.quantile(residuals, QUANTILES, axis=0).T
    shifts[:, QUANTILES.index(0.5)] = 0.0
    return lambda x: point(x)[:, :, None] + shifts


def score(predict: Callable[[np.ndarray], np.ndarray], test: SeriesWindows, scaling: MinMaxScaling) -> dict[str, Any]:
    """Per-step scores in kW over every test window."""
    scores = SeriesScores(QUANTILES, test.targets.shape[1])
    for i in range(0, len(test.ends), CHUNK):
        chunk = test.part(slice(i, i + CHUNK))
        scores.add(scaling.inverse_target(predict(chunk.inputs)), scaling.inverse_target(chunk.targets))
    return scores.per_step()


def run(config: SeriesConfig, command: str = "python -m train.series") -> dict[str, Any]:
    """Train, calibrate, score, and write the model, results.json and table.md; ``command`` is the module named in
    them, its arguments are this process's."""
    started = time.perf_counter()
    split = load_split(config.split)
    spec = config.window
    series = split.series
    features = feature_matrix(series.values, series.clock_minutes, spec.features)
    scaling = MinMaxScaling.fit(features[split.train], series.values[TARGET][split.train])
    rows = scaling.transform(features)
    train_ends, test_ends = window_ends(split.train, split.test, spec.horizon, config.train_every)
    training = cut_series_windows(rows, train_ends, spec)
    test = cut_series_windows(rows, test_ends, spec)
    cut = int(len(train_ends) * (1 - config.calibration_fraction))
    fitting, calibration = training.part(slice(0, cut)), training.part(slice(cut, None))
    log.info(
        "%d training windows (%d to fit, %d to calibrate), %d test windows",
        len(train_ends),
        cut,
        len(train_ends) - cut,
        len(test_ends),
    )
    fit_started = time.perf_counter()
    model = calibrated(fit_pinball(fitting, config), calibration)
    fit_seconds = time.perf_counter() - fit_started
    rows_scored = {
        f"{config.name} (linear quantile, calibrated)": score(model.predict_inputs, test, scaling),
        **{
            name: score(with_spread(point, calibration), test, scaling)
            for name, point in baselines(spec, fitting).items()
        },
    }
    results = {
        "made": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": f"{platform.node()} ({platform.machine()}, {platform.processor() or 'cpu'}), Python "
        f"{platform.python_version()}",
        "command": " ".join([command, *sys.argv[1:]]),
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
        "split": split.description,
        "windows": {"train": len(train_ends), "fit": cut, "calibration": len(train_ends) - cut, "test": len(test_ends)},
        "test_period": [str(np.datetime64(int(series.minutes[e]), "m")) for e in test_ends[[0, -1]]],
        "fit_seconds": fit_seconds,
        "total_seconds": time.perf_counter() - started,
        "inputs": list(series_input_names(spec)),
        "models": rows_scored,
    }
    Path(config.model_dir).mkdir(parents=True, exist_ok=True)
    metrics = {
        "test": rows_scored[next(iter(rows_scored))],
        "split": config.split.to_dict(),
        "windows": results["windows"],
    }
    write_document(config.model_dir, SeriesDocument(config.name, model, scaling, metrics))
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    (out / "table.md").write_text(markdown(results))
    return results


def markdown(results: dict[str, Any]) -> str:
    """One table per metric: a row per step, a column per model."""
    models = results["models"]
    names = list(models)
    steps = len(next(iter(models.values()))["mse"])
    lines = [
        f"Made {results['made']} on {results['machine']} by `{results['command']}`.",
        "",
        f"Split: {results['split']} Test windows: {results['windows']['test']:,} (every minute from "
        f"{results['test_period'][0]} to {results['test_period'][1]}); training windows: "
        f"{results['windows']['fit']:,} to fit, {results['windows']['calibration']:,} to calibrate. "
        f"Fit: {results['fit_seconds']:.0f} s; whole run {results['total_seconds']:.0f} s.",
        "",
    ]
    titles = {
        "mse": "MSE of the median (kW²)",
        "mae": "MAE of the median (kW)",
        "pinball": "pinball loss, mean over P10/P50/P90 (kW)",
        "coverage": "P10-P90 coverage (nominal 0.80)",
    }
    for metric, title in titles.items():
        lines += [f"### {title}", "", "| step (minutes) | " + " | ".join(names) + " |"]
        lines.append("|---|" + "---:|" * len(names))
        minutes = results["config"]["step_minutes"]
        for s in range(steps):
            label = f"{s + 1} (t+{s * minutes + 1}..t+{(s + 1) * minutes})"
            lines.append(f"| {label} | " + " | ".join(f"{models[n][metric][s]:.4f}" for n in names) + " |")
        lines.append("| **mean** | " + " | ".join(f"**{models[n]['mean_' + metric]:.4f}**" for n in names) + " |")
        lines.append("")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    return build_options_parser(SeriesConfig, "python -m train.series", __doc__.split("\n\n")[0])


def main(argv: list[str] | None = None) -> None:
    config = parse_options(SeriesConfig, argv, build_parser())
    run(config)
    print((Path(config.out) / "table.md").read_text())


if __name__ == "__main__":
    main()
