"""Under the DROP fill policy the agent scores exactly the windows the host's streaming evaluation keeps: none whose
inputs or target touch a null reading or an absent minute."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from device.contract import MEASUREMENTS, FillPolicy
from device.forecasting.forecaster import Forecaster
from device.models.load import load_models
from device.readings import Reading
from tests.device_assets import Series, build_assets, offline_metrics

MODELS = ("linreg", "linreg_q15", "persistence", "trend_line")
#: Rows never published: absent minutes the agent fills forward, as the host fills the NaN rows of the file.
ABSENT = [*range(300, 304), 700, *range(900, 910)]


@pytest.fixture(scope="module")
def drop_assets(tmp_path_factory) -> Path:
    return build_assets(tmp_path_factory.mktemp("drop_assets"), Series.bundled(), fill_policy=FillPolicy.DROP)


@pytest.fixture(scope="module")
def series_with_gaps() -> Series:
    """The file's null readings (a run of them at the end) and 15 absent minutes in three gaps."""
    series = Series.bundled(start=8000, rows=1200)
    raw = series.raw.copy()
    raw[ABSENT] = np.nan
    return Series(series.minutes, raw)


def test_online_drop_scores_equal_the_offline_streaming_windows(drop_assets, series_with_gaps):
    models = load_models(drop_assets, MODELS)
    forecaster = Forecaster(models, max_gap_minutes=15)
    published = np.setdiff1d(np.arange(len(series_with_gaps)), ABSENT)
    for row in published:
        forecaster.process(Reading("m1", int(series_with_gaps.minutes[row]), series_with_gaps.raw[row]))
    filled = np.isnan(series_with_gaps.raw[:, MEASUREMENTS.index("gap")]).sum()
    for model in models:
        online, offline = forecaster.errors(model.name), offline_metrics(model, series_with_gaps)
        assert online.count == offline["n"] < len(series_with_gaps) - 1 - model.entry.window.horizon - filled
        assert online.mse == pytest.approx(offline["mse"], abs=1e-6)
        assert online.mae == pytest.approx(offline["mae"], abs=1e-6)
