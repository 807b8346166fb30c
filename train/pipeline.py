"""The whole training job: load → fill → resample → split → for each model fit, score, hand over → report.

Call :func:`run` with a :class:`~train.config.TrainConfig`; ``python -m train`` is a thin CLI over it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from device.contract import FillPolicy
from device.models.families.baselines import Persistence, TrendLine
from device.models.families.linreg import LinearRegression
from train.artifacts import TrainedModel, save_trained_model
from train.config import KERAS_MODELS, MODEL_FEATURES, HandoverSettings, SplitHandover, TrainConfig
from train.data import SplitSpec, load_split
from train.evaluate import Evaluation, evaluate
from train.plots import plot_loss_curves, plot_predictions
from train.report import RunSummary, markdown_table, write_report
from train.window_cache import WindowsByFeatures
from train.windows import SplitWindows

log = logging.getLogger(__name__)


def _period(minutes: np.ndarray) -> str:
    first, last = (np.datetime64(int(m), "m") for m in (minutes[0], minutes[-1]))
    return f"{first} to {last}".replace("T", " ")


def _spaced(n: int, limit: int) -> np.ndarray:
    """At most ``limit`` evenly spaced indices of ``range(n)``, in order."""
    return np.unique(np.linspace(0, n - 1, min(n, limit)).astype(int)) if n else np.empty(0, int)


def handed_over(
    name: str,
    windows: SplitWindows,
    evaluation: Evaluation,
    config: HandoverSettings,
    split: SplitSpec | None,
    extra: dict[str, Any] | None = None,
    keras_path: Path | None = None,
) -> TrainedModel:
    """What ``convert`` needs of one trained model: seeded calibration windows from the training part, evenly
    spaced held-out windows, the offline metrics; ``split`` None when the rows are not a :class:`SplitSpec`
    protocol (then only this process can rebuild its test part)."""
    rng = np.random.default_rng(config.seed)
    calibration = np.sort(
        rng.choice(len(windows.x_train), min(config.calibration_windows, len(windows.x_train)), replace=False)
    )
    held_out = _spaced(len(windows.x_test), config.handover_test_windows)
    metrics = {k: v for k, v in evaluation.summary().items() if k not in ("name", "features", "loss", "val_loss")}
    return TrainedModel(
        name=name,
        window=windows.spec,
        scaling=windows.scaling,
        calibration=windows.x_train[calibration],
        x_val=windows.x_test[held_out],
        y_val=windows.y_test[held_out],
        parameters=evaluation.parameters,
        metrics=metrics,
        extra=extra or {},
        keras_path=keras_path,
        split=split,
    )


def hand_over(
    models_dir: Path,
    name: str,
    windows: SplitWindows,
    evaluation: Evaluation,
    config: SplitHandover,
    extra: dict[str, Any] | None = None,
    keras_path: Path | None = None,
) -> None:
    """Write the :mod:`train.artifacts` files ``convert`` reads (the ``.keras`` checkpoint is already there)."""
    save_trained_model(models_dir, handed_over(name, windows, evaluation, config, config.split, extra, keras_path))


def evaluate_baselines(config: TrainConfig, windows: SplitWindows, models_dir: Path) -> list[Evaluation]:
    """Persistence, the notebook's trend line and least squares on the lags (closed form) — whichever are asked."""
    spec = windows.spec
    rows = []
    if "persistence" in config.models:
        rows.append(evaluate("persistence", Persistence(spec).predict, windows))
    if "trend_line" in config.models:
        row = evaluate("trend_line", TrendLine(spec, config.trend_k).predict, windows)
        row.notes = f"least-squares line through the last {config.trend_k} readings, extrapolated"
        rows.append(row)
    if "linreg" in config.models:
        linreg = LinearRegression.fit(spec, windows.x_train, windows.y_train)
        row = evaluate("linreg", linreg.predict, windows, parameters=linreg.coef.size + 1)
        row.notes = f"numpy least squares on all {len(windows.x_train):,} training windows"
        hand_over(models_dir, "linreg", windows, row, config, extra=linreg.to_dict())
        rows.append(row)
    return rows


def evaluate_network(name: str, config: TrainConfig, windows: SplitWindows, models_dir: Path) -> Evaluation:
    """Fit one Keras model (subsampled to ``max_train_windows`` for the CNN-BiLSTM), score it, hand it over."""
    from train.fit import FitSettings, train_keras_model  # TensorFlow loads only when a network is trained

    x, y = windows.x_train, windows.y_train
    note = ""
    if name == "cnn_bilstm" and len(x) > config.max_train_windows:
        keep = _spaced(len(x), config.max_train_windows)
        note = (
            f"trained on {len(keep):,} of {len(x):,} training windows (evenly spaced, --max-train-windows "
            f"{config.max_train_windows:,}); tested on all"
        )
        x, y = x[keep], y[keep]
    settings = FitSettings(
        config.learning_rate(name),
        config.epochs,
        config.batch_size,
        config.patience,
        config.validation_split,
        config.seed,
    )
    fit = train_keras_model(name, windows.spec, x, y, settings, models_dir / f"{name}.keras")

    row = evaluate(name, fit.predict, windows, parameters=fit.model.count_params())
    row.train_seconds, row.epochs_run, row.best_epoch = fit.train_seconds, fit.epochs_run, fit.best_epoch
    row.loss, row.val_loss, row.notes = fit.loss, fit.val_loss, note
    hand_over(
        models_dir,
        name,
        windows,
        row,
        config,
        extra={"learning_rate": settings.learning_rate},
        keras_path=fit.checkpoint,
    )
    return row


def run(config: TrainConfig) -> dict[str, Any]:
    """Train and evaluate every configured model; write report.md/.json, PNGs and ``models/``; return the JSON."""
    out_dir = config.output_dir
    models_dir = out_dir / "models"
    split = load_split(config.split)
    part, train_rows, test_rows = split.series, split.train, split.test
    log.info("%s", split.description)

    windows_for = WindowsByFeatures(split, config.window_length, config.window_horizon, config.fill_policy)

    rows = evaluate_baselines(config, windows_for(MODEL_FEATURES["linreg"]), models_dir)
    networks = [m for m in KERAS_MODELS if m in config.models]
    for name in tqdm(networks, desc="networks", unit="model", disable=None if networks else True):
        rows.append(evaluate_network(name, config, windows_for(MODEL_FEATURES[name]), models_dir))
        log.info("%s: test MSE %.4f", name, rows[-1].test["mse"])

    notes = []
    if config.fill_policy is FillPolicy.DROP:
        dropped = windows_for(MODEL_FEATURES["linreg"]).dropped_windows
        notes.append(f"The drop policy removed {dropped:,} training and test windows that touch a filled reading.")
    step = {"1min": "minute", "1h": "hour", "1D": "day", "1W": "week"}[config.resample]
    plots = {"Predicted vs actual": plot_predictions(rows, config.plot_points, step, out_dir / "predictions.png").name}
    loss_plot = plot_loss_curves(rows, out_dir / "loss_curves.png")
    if loss_plot:
        plots["Training curves"] = loss_plot.name
    summary = RunSummary(
        data=str(config.data),
        protocol=split.description,
        fill=split.fill.describe(),
        resample=config.resample,
        seq_len=config.window_length,
        horizon=config.window_horizon,
        train_rows=train_rows.stop - train_rows.start,
        test_rows=test_rows.stop - test_rows.start,
        train_period=_period(part.minutes[train_rows]),
        test_period=_period(part.minutes[test_rows]),
        notes=notes,
    )
    report = write_report(out_dir, summary, rows, config.to_dict(), plots)
    log.info("report: %s", report)
    return {
        "report": str(report),
        "summary": summary,
        "table": markdown_table(rows),
        "models": {r.name: r.summary() for r in rows},
    }
