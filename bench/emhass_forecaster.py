"""EMHASS's default ML load forecaster against ``series_next_day`` on the same test days: MSE per half-hour step.

EMHASS (``emhass`` on PyPI) is not in the project's venv: run this under a Python that has it and the project on
its path, e.g. ``make emhass-venv`` then

    PYTHONPATH=. .emhass-venv/bin/python -m bench.emhass_forecaster --data household_power_consumption.zip

EMHASS's defaults (its ``data/config_defaults.json`` and ``MLForecaster``): ``sklearn_model`` KNeighborsRegressor
(scikit-learn's defaults, 5 neighbours), ``num_lags`` 48 half-hours, the date features of ``utils.add_date_features``
(year, month, day of week, day of year, day, hour) as exogenous inputs, skforecast's ``ForecasterRecursive``, the
history it is fitted on at least 9 days (``historic_days_to_retrieve`` is raised to 9 for a fit) of which the last
48 hours (``split_date_delta``) are held out, and a forecast of ``num_lags`` steps from the last window. Two rows:

- **EMHASS MLForecaster, refitted on the 9 days before each forecast**: its own class, ``fit()`` then
  ``predict(data_last_window)``, as an EMHASS user who refits before each day-ahead run gets;
- **the same forecaster fitted once on the whole training part** (skforecast with EMHASS's estimator, lags and date
  features): what EMHASS's method does with three years of history instead of nine days.

Both see the same half-hour means (in W, as Home Assistant's history resampled by EMHASS) of the same forward-filled
file as ``series_next_day`` and are scored on the same windows: one forecast origin every ``--every-hours`` on a
half-hour boundary of the chronological test part, each followed by 48 half-hours inside it. ``series_next_day``
(the shipped file) and the seasonal naive baseline are scored on the same origins.
"""

from __future__ import annotations

import asyncio
import datetime
import json
import logging
import platform
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from device.contract import TARGET, SeriesSpec, feature_matrix, series_input_names, series_targets
from device.models.families.series import read_document
from device.options import build_parser, option, parse_options
from device.series_scoring import SeriesScores
from train.data import DEFAULT_DATA, Split, SplitSpec, load_split
from train.series import cut_series_windows

log = logging.getLogger("bench.emhass_forecaster")
MODEL = Path("firmware_assets/series/series_next_day.json")
#: EMHASS's name of the load sensor (its default ``var_model``); any column name would do.
VAR_MODEL = "sensor.power_load_no_var_loads"
STEP = SeriesSpec(30, 48)
REFITTED = "EMHASS MLForecaster (KNN, 48 lags), refitted on the 9 days before each origin"
WHOLE_TRAINING = "EMHASS's forecaster fitted once on the whole training part"


@dataclass(frozen=True)
class EmhassBenchConfig:
    data: Path = option(
        DEFAULT_DATA, "raw UCI file (.txt or .zip); the full file gives the documented table", exists=True
    )
    model: Path = option(MODEL, "the day-ahead series model file (train.day_ahead, shipped by convert.series)")
    every_hours: int = option(6, "one forecast origin in this many hours of the test part")
    history_days: int = option(9, "days of history EMHASS's refitted forecaster gets (its minimum for a fit)")
    max_origins: int = option(0, "score at most this many origins, evenly spread (0: all)")
    out: Path | None = option(None, "write the Markdown table here and the numbers beside it (.json)")

    def __post_init__(self) -> None:
        if self.every_hours < 1 or self.history_days < 3 or self.max_origins < 0:
            raise ValueError("every_hours >= 1, history_days >= 3 (EMHASS holds out 2) and max_origins >= 0")


def origins(split: Split, history_days: int, every_hours: int, max_origins: int) -> np.ndarray:
    """Rows ending a forecast window: the minute before a clock half-hour (so the steps are the clock's half-hours,
    as EMHASS's resampled history), with ``history_days`` of half-hours before it and a whole day after it inside
    the test part, every ``every_hours``."""
    clock = split.series.clock_minutes
    history = history_days * 1440
    first = max(split.test.start, history + STEP.horizon_minutes)
    ends = np.arange(first, split.test.stop - STEP.horizon_minutes)
    ends = ends[(clock[ends + 1] % 30) == 0]
    ends = ends[:: every_hours * 2]
    if max_origins and len(ends) > max_origins:
        ends = ends[np.linspace(0, len(ends) - 1, max_origins).astype(int)]
    return ends


def half_hours_before(kw: np.ndarray, clock: np.ndarray, end: int, count: int) -> pd.Series:
    """The ``count`` half-hour means (W) up to row ``end``, indexed by the start of each half-hour."""
    values = series_targets(kw, np.array([end - 30 * count]), SeriesSpec(30, count))[0] * 1000.0
    index = pd.date_range(pd.Timestamp(int(clock[end + 1 - 30 * count]), unit="m"), periods=count, freq="30min")
    return pd.Series(values, index=index, name=VAR_MODEL)


def emhass_refitted(kw: np.ndarray, clock: np.ndarray, ends: np.ndarray, history_days: int) -> np.ndarray:
    """EMHASS's own MLForecaster with its defaults, fitted on the ``history_days`` before each origin (kW)."""
    from emhass.machine_learning_forecaster import MLForecaster

    quiet = logging.getLogger("emhass.bench")
    quiet.setLevel(logging.WARNING)
    forecasts = []
    for i, end in enumerate(ends):
        history = half_hours_before(kw, clock, end, history_days * 48).to_frame()
        forecaster = MLForecaster(history, "load_forecast", VAR_MODEL, "KNeighborsRegressor", 48, {}, quiet)
        asyncio.run(forecaster.fit(split_date_delta="48h", perform_backtest=False))
        predicted = asyncio.run(forecaster.predict(data_last_window=history))
        forecasts.append(np.asarray(predicted, np.float64)[: STEP.steps] / 1000.0)
        if i % 100 == 0:
            log.info("EMHASS refitted: origin %d of %d", i + 1, len(ends))
    return np.stack(forecasts)


def emhass_whole_training(kw: np.ndarray, clock: np.ndarray, split: Split, ends: np.ndarray) -> np.ndarray:
    """skforecast with EMHASS's estimator, lags and date features, fitted once on every training half-hour (kW)."""
    from emhass.utils import add_date_features
    from skforecast.recursive import ForecasterRecursive
    from sklearn.neighbors import KNeighborsRegressor

    first = int(np.argmax((clock[split.train] % 30) == 0))
    count = (split.train.stop - first) // 30
    train = half_hours_before(kw, clock, first + 30 * count - 1, count)
    forecaster = ForecasterRecursive(estimator=KNeighborsRegressor(), lags=48)
    forecaster.fit(y=train, exog=add_date_features(pd.DataFrame(index=train.index)))
    log.info("EMHASS's forecaster fitted once on %d training half-hours", count)
    forecasts = []
    for end in ends:
        window = half_hours_before(kw, clock, end, 48)
        future = pd.date_range(window.index[-1] + pd.Timedelta("30min"), periods=STEP.steps, freq="30min")
        exog = add_date_features(pd.DataFrame(index=future))
        predicted = forecaster.predict(steps=STEP.steps, last_window=window, exog=exog)
        forecasts.append(np.asarray(predicted, np.float64) / 1000.0)
    return np.stack(forecasts)


def ours(model: Path, split: Split, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``series_next_day``'s forecasts (kW, (n, 48, 3)) at ``ends``, and the seasonal naive of the last 7 days."""
    document = read_document(model)
    spec = document.model.spec
    if spec.series != STEP:
        raise ValueError(f"{model}: not a 48 x 30-minute series model ({spec.series})")
    series = split.series
    rows = document.scaling.transform(feature_matrix(series.values, series.clock_minutes, spec.features))
    windows = cut_series_windows(rows, ends, spec)
    inverse = document.scaling.inverse_target
    week = series_input_names(spec).index(f"{TARGET}_mean_7d_step_1")
    return inverse(document.model.predict_inputs(windows.inputs)), inverse(windows.inputs[:, week : week + STEP.steps])


def with_point_only(point: np.ndarray) -> np.ndarray:
    """A point forecast as (n, steps, 3) with all three quantiles at the point (only MSE and MAE mean anything)."""
    return np.repeat(point[:, :, None], 3, axis=2)


def require_emhass() -> None:
    """Stop at once, saying how, where EMHASS is not installed (it is never in the project's venv)."""
    import importlib.util

    if importlib.util.find_spec("emhass") is None:
        raise SystemExit(
            "emhass is not installed for this Python: `make emhass-venv`, then "
            "`PYTHONPATH=. .emhass-venv/bin/python -m bench.emhass_forecaster ...`"
        )


def run(config: EmhassBenchConfig) -> dict[str, Any]:
    require_emhass()
    warnings.filterwarnings("ignore", module="skforecast")  # one warning per fit about arguments EMHASS passes
    started = time.perf_counter()
    split = load_split(SplitSpec(config.data, "fraction"))
    kw = np.asarray(split.series.values[TARGET], np.float64)
    clock = split.series.clock_minutes
    ends = origins(split, config.history_days, config.every_hours, config.max_origins)
    log.info("%d forecast origins from %s", len(ends), np.datetime64(int(clock[ends[0] + 1]), "m"))
    actual = series_targets(kw, ends, STEP)
    ours_kw, week = ours(config.model, split, ends)
    timed: dict[str, tuple[np.ndarray, float]] = {}
    t = time.perf_counter()
    refitted = emhass_refitted(kw, clock, ends, config.history_days)
    timed[REFITTED] = (refitted, time.perf_counter() - t)
    t = time.perf_counter()
    timed[WHOLE_TRAINING] = (emhass_whole_training(kw, clock, split, ends), time.perf_counter() - t)
    candidates = {
        "series_next_day (median)": ours_kw,
        **{name: with_point_only(f) for name, (f, _) in timed.items()},
        "seasonal naive (mean of 7 days)": with_point_only(week),
    }
    scores = {}
    for name, forecast in candidates.items():
        s = SeriesScores((0.1, 0.5, 0.9), STEP.steps)
        s.add(forecast, actual)
        scores[name] = s.per_step()
    from importlib.metadata import version

    return {
        "made": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "machine": f"{platform.node()} ({platform.machine()}), Python {platform.python_version()}, emhass "
        f"{version('emhass')}, skforecast {version('skforecast')}, scikit-learn {version('scikit-learn')}",
        "command": " ".join(["python -m bench.emhass_forecaster", *sys.argv[1:]]),
        "origins": len(ends),
        "first_origin": str(np.datetime64(int(clock[ends[0] + 1]), "m")),
        "last_origin": str(np.datetime64(int(clock[ends[-1] + 1]), "m")),
        "seconds": {name: s for name, (_, s) in timed.items()} | {"total": time.perf_counter() - started},
        "models": scores,
    }


def markdown(results: dict[str, Any]) -> str:
    models = results["models"]
    names = list(models)
    lines = [
        f"Made {results['made']} on {results['machine']} by `{results['command']}`.",
        "",
        f"{results['origins']} forecast origins, {results['first_origin']} to {results['last_origin']} (clock "
        f"half-hours of the test part); whole run {results['seconds']['total']:.0f} s.",
        "",
        "| step (half-hours ahead) | " + " | ".join(f"{n} MSE (kW²)" for n in names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    rows = [0, 1, 3, 7, 15, 23, 35, 47]
    for s in rows:
        lines.append(f"| {s + 1} | " + " | ".join(f"{models[n]['mse'][s]:.4f}" for n in names) + " |")
    lines.append("| **mean of 48** | " + " | ".join(f"**{models[n]['mean_mse']:.4f}**" for n in names) + " |")
    lines.append("| mean MAE (kW) | " + " | ".join(f"{models[n]['mean_mae']:.4f}" for n in names) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = build_parser(EmhassBenchConfig, "python -m bench.emhass_forecaster", __doc__.split("\n\n")[0])
    config = parse_options(EmhassBenchConfig, argv, parser)
    results = run(config)
    table = markdown(results)
    if config.out is not None:
        Path(config.out).parent.mkdir(parents=True, exist_ok=True)
        Path(config.out).write_text(table)
        Path(config.out).with_suffix(".json").write_text(json.dumps(results, indent=1) + "\n")
    print(table)


if __name__ == "__main__":
    main()
