"""Stale vs fresh: the shipped microcontroller LSTM trained once on an old year, against the same architecture
retrained on the weeks just before each held-out week; both in full int8, scored under LiteRT on the same windows.

``python -m bench.stale_vs_fresh --help``. The stale model trains on ``--stale-from``..``--stale-to`` (2007) once;
for each held-out week a fresh model trains on the ``--fresh-days`` before it. Each model's scaling is fitted on its
own training rows (:func:`train.windows.cut_windows`), so the test windows of one week are the same readings scaled
two ways; persistence on them is the reference. Both use :mod:`train.search`'s settings (:func:`train.fit.
train_keras_model`, chronological validation tail) and the project's converter (:mod:`convert.networks`); the fresh
model simply sees far fewer windows. Writes results.json, results.md and mse_per_week.png into ``--out``, rewritten
after every week, and prints the table.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from tqdm import tqdm

from bench.firmware import FirmwareBenchConfig
from bench.stale_vs_fresh_report import ModelRow, WeekRow, write_outputs
from convert.entry_fields import entry_file
from convert.fidelity import task_metrics
from convert.mcu import AllTestWindows, full_test_metrics, ship_int8
from convert.networks import NetworkConverter
from device.models.families.baselines import Persistence
from device.models.families.tflite import TFLiteEntry
from device.options import build_parser, option, option_of, parse_options
from train.config import HandoverOptions
from train.data import Measurements, load_measurements, rows_between
from train.mcu_models import CANDIDATES, McuConfig, candidate
from train.pipeline import handed_over
from train.search import SearchConfig, fit_member, settings_of
from train.windows import SplitWindows, cut_windows

log = logging.getLogger(__name__)
SHIPPED_MODEL = "res18_hour_dow_sm"
#: Every sixth Monday of 2010 from the first: none of these weeks holds more than one filled minute (starting a week
#: later would put two days of forward-filled readings, 2010-01-12 and 2010-09-25, into two test weeks).
DEFAULT_WEEKS = tuple(str(np.datetime64("2010-01-04") + 42 * i) for i in range(8))


@dataclass(frozen=True)
class StaleFreshConfig(HandoverOptions):
    """Everything one comparison depends on; written into results.json (``--help`` is generated from it)."""

    data: Path = option_of(FirmwareBenchConfig, "data")
    out_dir: Path = option(
        Path("runs/stale_vs_fresh"),
        "where results.json, results.md, mse_per_week.png, the "
        "Keras checkpoints (models/) and the int8 files (int8/) go",
        flag="--out",
    )
    model: str = option(
        SHIPPED_MODEL,
        "the train.mcu_models member compared (res18_hour_dow_sm is the one shipped)",
        choices=tuple(c.name for c in CANDIDATES),
    )
    stale_from: str = option("2007-01-01", "first day the stale model trains on")
    stale_to: str = option("2008-01-01", "the day after the stale model's last training day")
    weeks: tuple[str, ...] = option(
        DEFAULT_WEEKS,
        "first day of each held-out week (seven days from its midnight); none may start before --stale-to",
    )
    fresh_days: int = option(56, "days just before each held-out week that its fresh model trains on")
    epochs: int = option_of(SearchConfig, "epochs")
    batch_size: int = option_of(SearchConfig, "batch_size")
    learning_rate: float = option_of(SearchConfig, "learning_rate")
    patience: int = option_of(SearchConfig, "patience")
    fresh_epochs: int | None = option(
        None,
        "maximum epochs of the fresh models only; unset: --epochs, the same as "
        "the stale model. 12 epochs over 56 days are about 6.5 times fewer gradient "
        "steps than 12 over a year: 78 gives both as many",
    )

    def __post_init__(self) -> None:
        if not self.weeks:
            raise ValueError("give at least one held-out week")
        if self.fresh_days < 1:
            raise ValueError(f"--fresh-days must be at least 1, got {self.fresh_days}")
        early = [w for w in self.weeks if np.datetime64(w, "m") < np.datetime64(self.stale_to, "m")]
        if early:
            raise ValueError(
                f"held-out weeks {early} start before --stale-to {self.stale_to}: the stale model would "
                "have trained on them"
            )


@dataclass
class Int8Model:
    """One trained model converted to full int8: how it was trained, and the file that is scored."""

    row: ModelRow
    entry: TFLiteEntry
    path: Path
    predict_float: Any  # train.fit.FitResult.predict: the Keras checkpoint the int8 file came from

    def score(self, windows: SplitWindows) -> tuple[dict[str, Any], dict[str, Any]]:
        """int8 (LiteRT, the device's predictor) and float (Keras) metrics in kW on ``windows``' test part."""
        int8 = full_test_metrics(self.entry, self.path, AllTestWindows(windows.x_test, windows.y_test))
        keras = task_metrics(self.predict_float(windows.x_test, windows.n_real_test), windows.y_test, windows.scaling)
        return int8, keras


def day(date: str, offset_days: int) -> str:
    return str(np.datetime64(date, "D") + offset_days)


def train_int8(
    name: str,
    role: str,
    period: tuple[str, str],
    windows: SplitWindows,
    mcu: McuConfig,
    config: StaleFreshConfig,
    filled: int,
) -> Int8Model:
    """Train ``mcu`` on ``windows``' training part as :mod:`train.search` does, and convert it to full int8."""
    from train.fit import FitSettings  # TensorFlow loads only when a network is trained

    out = Path(config.out_dir)
    epochs = config.fresh_epochs if role == "fresh" and config.fresh_epochs else config.epochs
    settings = FitSettings(
        config.learning_rate, epochs, config.batch_size, config.patience, config.validation_split, config.seed
    )
    fit, evaluation = fit_member(mcu, name, windows, settings, out / "models" / f"{name}.keras")
    trained = handed_over(
        name, windows, evaluation, config, None, keras_path=fit.checkpoint, extra={"trained_on": list(period)}
    )
    (out / "int8").mkdir(parents=True, exist_ok=True)
    entry = ship_int8(NetworkConverter(trained, out / "int8", tflm=False, macs=mcu.macs), name, None)
    row = ModelRow(
        name,
        role,
        *period,
        len(windows.x_train),
        filled,
        fit.epochs_run,
        fit.best_epoch,
        fit.train_seconds,
        (out / "int8" / entry_file(entry)).stat().st_size,
    )
    log.info(
        "%s: %d training windows, %d epochs (best %d) in %.0f s, int8 %d bytes",
        name,
        row.training_windows,
        row.epochs,
        row.best_epoch,
        row.train_seconds,
        row.int8_bytes,
    )
    return Int8Model(row, entry, out / "int8" / entry_file(entry), fit.predict)


def filled_minutes(series: Measurements, rows: slice) -> int:
    return int(series.missing[rows].sum())


@dataclass(frozen=True)
class HeldOutWeek:
    start: str
    test_rows: slice
    fresh_period: tuple[str, str]
    fresh_rows: slice


def held_out_weeks(series: Measurements, config: StaleFreshConfig) -> list[HeldOutWeek]:
    """Each week and the days before it, checked against the data (before anything trains)."""
    weeks = []
    for start in config.weeks:
        fresh = (day(start, -config.fresh_days), start)
        weeks.append(
            HeldOutWeek(
                start, rows_between(series.minutes, start, day(start, 7)), fresh, rows_between(series.minutes, *fresh)
            )
        )
    return weeks


def run(config: StaleFreshConfig) -> tuple[list[ModelRow], list[WeekRow]]:
    """Train the stale model once, then per week a fresh one; score both and persistence on the week's windows."""
    mcu = candidate(config.model)
    settings = settings_of(config)
    Path(config.out_dir).mkdir(parents=True, exist_ok=True)
    series, fill = load_measurements(config.data).fill()
    stale_period = (config.stale_from, config.stale_to)
    stale_rows = rows_between(series.minutes, *stale_period)
    weeks = held_out_weeks(series, config)

    stale = train_int8(
        "stale",
        "stale",
        stale_period,
        cut_windows(series, stale_rows, weeks[0].test_rows, mcu.window),
        mcu,
        config,
        filled_minutes(series, stale_rows),
    )
    models, rows = [stale.row], []
    for week in tqdm(weeks, desc="held-out weeks", unit="week", disable=None):
        stale_windows = cut_windows(series, stale_rows, week.test_rows, mcu.window)
        fresh_windows = cut_windows(series, week.fresh_rows, week.test_rows, mcu.window)
        fresh = train_int8(
            f"fresh_{week.start}",
            "fresh",
            week.fresh_period,
            fresh_windows,
            mcu,
            config,
            filled_minutes(series, week.fresh_rows),
        )
        models.append(fresh.row)
        if len(stale_windows.y_test) != len(fresh_windows.y_test):
            raise AssertionError(
                f"{week.start}: stale and fresh were cut {len(stale_windows.y_test)} and "
                f"{len(fresh_windows.y_test)} test windows from the same rows"
            )
        (stale_int8, stale_keras), (fresh_int8, fresh_keras) = stale.score(stale_windows), fresh.score(fresh_windows)
        persistence = task_metrics(
            Persistence(mcu.window).predict(fresh_windows.x_test, fresh_windows.n_real_test),
            fresh_windows.y_test,
            fresh_windows.scaling,
        )
        rows.append(
            WeekRow(
                week.start,
                len(fresh_windows.y_test),
                filled_minutes(series, week.test_rows),
                stale_int8,
                fresh_int8,
                persistence,
                stale_keras,
                fresh_keras,
            )
        )
        log.info(
            "%s: int8 MSE stale %.4f, fresh %.4f, persistence %.4f (kW²) on %d windows",
            week.start,
            stale_int8["mse"],
            fresh_int8["mse"],
            persistence["mse"],
            rows[-1].windows,
        )
        write_outputs(settings, fill.describe(), models, rows)
    return models, rows


def main(argv: list[str] | None = None) -> None:
    config = parse_options(
        StaleFreshConfig, argv, build_parser(StaleFreshConfig, "python -m bench.stale_vs_fresh", __doc__)
    )
    run(config)
    print((Path(config.out_dir) / "results.md").read_text())


if __name__ == "__main__":
    main()
