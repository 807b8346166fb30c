"""The microcontroller search: train each candidate of :mod:`train.mcu_models` on the notebook protocol, score it
next to persistence and least squares on the same features, and write one table plus the error-vs-size plots.

Protocol (the issue's): forward-filled series, chronological 80/20 split of the whole file, windows cut inside each
part (30 lags, target 5 minutes after the last input), scaling fitted on the training part, the last 5% of the
training windows as a chronological validation tail for early stopping. Every trained candidate is saved as a
:mod:`train.artifacts` hand-over folder, so ``convert`` turns it into int8 later, in another process.

Run ``python -m train.search --help``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
from tqdm import tqdm

from device.contract import TARGET, MinMaxScaling, WindowSpec, feature_matrix, forward_fill, make_windows
from device.predictors import LinearRegression, Persistence, Predictor
from device.scoring import error_metrics
from train.artifacts import TrainedModel, save_trained_model
from train.mcu_models import CANDIDATES, HOUR, SUBMETERS, McuConfig, build_model, candidate
from train.search_report import (
    Budget,
    EnergyModel,
    SearchRow,
    markdown_table,
    pick_winner,
    plot_error_vs_energy,
    plot_error_vs_size,
)

log = logging.getLogger(__name__)
BUNDLED_DATA = Path(__file__).resolve().parents[1] / "data" / "household_power_14d.txt"
#: Least squares gets the reading alone, the hour too, and the richest LSTM inputs, so the comparison stays fair.
BASELINE_FEATURES: tuple[tuple[str, ...], ...] = ((TARGET,), (TARGET, *HOUR), (TARGET, *HOUR, *SUBMETERS))


@dataclass(frozen=True)
class SearchConfig:
    """Everything one search run depends on; written next to its results."""

    data: Path = BUNDLED_DATA
    out_dir: Path = Path("runs/search")
    seq_len: int = 30
    horizon: int = 5
    resample_minutes: int = 1  # 60 gives the paper's hourly protocol (hourly means)
    candidates: tuple[str, ...] = tuple(c.name for c in CANDIDATES)
    epochs: int = 12
    batch_size: int = 1024
    learning_rate: float = 2e-3
    patience: int = 3
    train_fraction: float = 0.8
    val_fraction: float = 0.05
    calibration_windows: int = 1000
    handover_val_windows: int = 2000
    seed: int = 0
    energy: EnergyModel = field(default_factory=EnergyModel)
    budget: Budget = field(default_factory=Budget)


@dataclass
class Series:
    """The forward-filled measurements and their timestamps (minutes since the epoch)."""

    measurements: dict[str, np.ndarray]
    minutes: np.ndarray

    @property
    def target(self) -> np.ndarray:
        return self.measurements[TARGET]


@dataclass
class Windows:
    """Scaled windows of one feature set, cut inside each chronological part."""

    scaling: MinMaxScaling
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def load_series(path: Path) -> Series:
    """Read the raw UCI file (txt or zip) and forward-fill it.

    Interim: this is replaced by ``train.data`` as soon as that module lands.
    """
    import pandas as pd

    from device.contract import MEASUREMENTS, UCI_COLUMNS

    frame = pd.read_csv(path, sep=";", na_values="?", low_memory=False)
    stamps = pd.to_datetime(frame["Date"] + " " + frame["Time"], format="%d/%m/%Y %H:%M:%S")
    filled = forward_fill(frame[[UCI_COLUMNS[m] for m in MEASUREMENTS]].to_numpy(np.float64))
    keep = ~np.isnan(filled).any(axis=1)  # leading rows with nothing to fill from
    minutes = (stamps.to_numpy("datetime64[m]").astype(np.int64))[keep]
    return Series({m: filled[keep, i] for i, m in enumerate(MEASUREMENTS)}, minutes)


def resample(series: Series, minutes: int) -> Series:
    """Means over aligned blocks of ``minutes`` rows (from the first whole block), stamped at the block's start."""
    if minutes == 1:
        return series
    first = int((-series.minutes[0]) % minutes)
    n_blocks = (len(series.minutes) - first) // minutes
    rows = slice(first, first + n_blocks * minutes)
    means = {k: v[rows].reshape(n_blocks, minutes).mean(axis=1) for k, v in series.measurements.items()}
    return Series(means, series.minutes[rows][::minutes])


def member(name: str, config: SearchConfig) -> McuConfig:
    """The named candidate, on this run's window length and horizon."""
    return replace(candidate(name), seq_len=config.seq_len, horizon=config.horizon)


def cut_windows(series: Series, spec: WindowSpec, config: SearchConfig) -> Windows:
    """Split 80/20 by time, fit the scaling on the training part, cut windows inside each part, hold out a tail."""
    features = feature_matrix(series.measurements, series.minutes, spec.features)
    split = int(len(features) * config.train_fraction)
    scaling = MinMaxScaling.fit(features[:split], series.target[:split])

    def windows(rows: slice) -> tuple[np.ndarray, np.ndarray]:
        return make_windows(scaling.transform(features[rows]), scaling.transform_target(series.target[rows]), spec)

    x, y = windows(slice(0, split))
    x_test, y_test = windows(slice(split, None))
    n_val = max(1, int(len(x) * config.val_fraction))
    return Windows(scaling, x[:-n_val], y[:-n_val], x[-n_val:], y[-n_val:], x_test, y_test)


def kw_metrics(scaling: MinMaxScaling, predicted: np.ndarray, actual: np.ndarray) -> dict[str, float | int]:
    """MSE/MAE/... in kW, from scaled predictions and targets."""
    return error_metrics(scaling.inverse_target(predicted), scaling.inverse_target(actual))


def score_predictor(predictor: Predictor, windows: Windows) -> dict[str, float | int]:
    n_real = np.full(len(windows.x_test), windows.x_test.shape[1])
    return kw_metrics(windows.scaling, predictor.predict(windows.x_test, n_real), windows.y_test)


def baseline_rows(series: Series, config: SearchConfig) -> list[SearchRow]:
    """Persistence, and least squares on every lag of each baseline feature set (closed form, seconds)."""
    rows = []
    for features in tqdm(BASELINE_FEATURES, desc="baselines", unit="fit"):
        spec = WindowSpec(config.seq_len, config.horizon, features)
        w = cut_windows(series, spec, config)
        if features == (TARGET,):
            m = score_predictor(Persistence(spec), w)
            rows.append(SearchRow("persistence", TARGET, 0, 0, m["mse"], m["mae"], kind="persistence"))
        train_x, train_y = np.concatenate([w.x_train, w.x_val]), np.concatenate([w.y_train, w.y_val])
        m = score_predictor(LinearRegression.fit(spec, train_x, train_y), w)
        n_coef = spec.seq_len * spec.n_features
        rows.append(SearchRow(f"least squares ({'+'.join(features)})", "+".join(features), n_coef + 1, n_coef,
                              m["mse"], m["mae"], kind="linreg"))
        log.info("%s: test MSE %.4f", rows[-1].name, m["mse"])
    return rows


def train_candidate(mcu: McuConfig, windows: Windows, config: SearchConfig):
    """Adam on MSE with early stopping on the validation tail (best weights restored); returns model and epochs."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    keras.utils.set_random_seed(config.seed)
    model = build_model(mcu)
    model.compile(optimizer=keras.optimizers.Adam(config.learning_rate), loss="mse")
    stop = keras.callbacks.EarlyStopping(patience=config.patience, restore_best_weights=True)
    report = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: log.info("%s epoch %d: loss %.6f val_loss %.6f", mcu.name, epoch + 1,
                                                  logs["loss"], logs["val_loss"]))
    history = model.fit(windows.x_train, windows.y_train, validation_data=(windows.x_val, windows.y_val),
                        batch_size=config.batch_size, epochs=config.epochs, verbose=0, callbacks=[stop, report],
                        shuffle=True)
    epochs_run = len(history.history["loss"])
    best_epoch = int(np.argmin(history.history["val_loss"])) + 1
    return model, epochs_run, best_epoch


def handover(mcu: McuConfig, model, windows: Windows, metrics: dict, config: SearchConfig, models_dir: Path) -> None:
    """Write the :mod:`train.artifacts` folder ``convert`` reads: Keras model, spec, scaling, calibration windows."""
    rng = np.random.default_rng(config.seed)
    n_calibration = min(config.calibration_windows, len(windows.x_train))
    calibration = windows.x_train[rng.choice(len(windows.x_train), n_calibration, replace=False)]
    held_out = np.unique(np.linspace(0, len(windows.x_test) - 1, config.handover_val_windows).astype(int))
    save_trained_model(models_dir, TrainedModel(
        name=mcu.name, window=mcu.window, scaling=windows.scaling, calibration=calibration,
        x_val=windows.x_test[held_out], y_val=windows.y_test[held_out], parameters=mcu.parameters, metrics=metrics,
        extra={"macs": mcu.macs, "residual": mcu.residual, "units": mcu.units}))
    model.save(models_dir / f"{mcu.name}.keras")


def candidate_row(mcu: McuConfig, series: Series, config: SearchConfig, models_dir: Path) -> SearchRow:
    windows = cut_windows(series, mcu.window, config)
    log.info("%s: %d training, %d validation, %d test windows", mcu.name, len(windows.x_train), len(windows.x_val),
             len(windows.x_test))
    started = time.perf_counter()
    model, epochs_run, best_epoch = train_candidate(mcu, windows, config)
    seconds = time.perf_counter() - started
    predicted = model.predict(windows.x_test, batch_size=8192, verbose=0)[:, 0]
    metrics = {"test": kw_metrics(windows.scaling, predicted, windows.y_test), "epochs_run": epochs_run,
               "best_epoch": best_epoch, "train_seconds": seconds}
    handover(mcu, model, windows, metrics, config, models_dir)
    log.info("%s: float test MSE %.4f after %d epochs (best %d), %.0f s", mcu.name, metrics["test"]["mse"],
             epochs_run, best_epoch, seconds)
    return SearchRow(mcu.name, "+".join(mcu.features), mcu.parameters, mcu.macs, metrics["test"]["mse"],
                     metrics["test"]["mae"], epochs=epochs_run, train_seconds=seconds)


def write_outputs(rows: list[SearchRow], config: SearchConfig) -> SearchRow | None:
    """results.json, table.md and the two PNGs in ``out_dir``; returns the winner (None until int8 figures exist)."""
    out = Path(config.out_dir)
    winner = pick_winner(rows, config.budget)
    (out / "results.json").write_text(json.dumps(
        {"config": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()},
         "rows": [r.to_dict() for r in rows], "winner": winner.name if winner else None}, indent=2) + "\n")
    (out / "table.md").write_text(markdown_table(rows, winner, config.energy))
    plot_error_vs_size(rows, out / "error_vs_size.png")
    plot_error_vs_energy(rows, config.energy, out / "error_vs_energy.png")
    return winner


def run_search(config: SearchConfig) -> list[SearchRow]:
    """Baselines, then each candidate in turn; outputs are rewritten after every candidate, so a cut run still
    leaves a table of what finished."""
    out = Path(config.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    series = resample(load_series(config.data), config.resample_minutes)
    log.info("%s: %d rows of %d minute(s)", config.data, len(series.minutes), config.resample_minutes)
    rows = baseline_rows(series, config)
    write_outputs(rows, config)
    for name in tqdm(config.candidates, desc="candidates", unit="model"):
        rows.append(candidate_row(member(name, config), series, config, out / "models"))
        write_outputs(rows, config)
    return rows


def parse_args(argv: list[str] | None = None) -> SearchConfig:
    defaults = SearchConfig()
    p = argparse.ArgumentParser(prog="python -m train.search", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--data", type=Path, default=defaults.data,
                   help="raw UCI file (.txt or .zip); the full file gives the issue's numbers")
    p.add_argument("--out-dir", type=Path, default=defaults.out_dir,
                   help="where results.json, table.md, the PNGs and models/ (the hand-over folders) go")
    p.add_argument("--seq-len", type=int, default=defaults.seq_len, help="readings per input window")
    p.add_argument("--horizon", type=int, default=defaults.horizon,
                   help="how many rows after the window's last reading the target is (5 = the issue; 1 = the paper)")
    p.add_argument("--resample-minutes", type=int, default=defaults.resample_minutes,
                   help="average the series over blocks of this many minutes first (60 = the paper's hourly "
                        "protocol, with --seq-len 24 --horizon 1)")
    p.add_argument("--candidates", nargs="+", default=list(defaults.candidates),
                   choices=[c.name for c in CANDIDATES], help="which members of train.mcu_models to train")
    p.add_argument("--epochs", type=int, default=defaults.epochs, help="maximum epochs per candidate")
    p.add_argument("--batch-size", type=int, default=defaults.batch_size, help="training batch size")
    p.add_argument("--learning-rate", type=float, default=defaults.learning_rate, help="Adam learning rate")
    p.add_argument("--patience", type=int, default=defaults.patience,
                   help="epochs without a better validation loss before stopping (best weights are kept)")
    p.add_argument("--val-fraction", type=float, default=defaults.val_fraction,
                   help="chronological tail of the training windows used for early stopping")
    p.add_argument("--seed", type=int, default=defaults.seed, help="seed for weights, shuffling and calibration")
    a = p.parse_args(argv)
    return SearchConfig(data=a.data, out_dir=a.out_dir, seq_len=a.seq_len, horizon=a.horizon,
                        resample_minutes=a.resample_minutes, candidates=tuple(a.candidates), epochs=a.epochs,
                        batch_size=a.batch_size, learning_rate=a.learning_rate, patience=a.patience,
                        val_fraction=a.val_fraction, seed=a.seed)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    config = parse_args(argv)
    run_search(config)
    print((Path(config.out_dir) / "table.md").read_text())


if __name__ == "__main__":
    main()
