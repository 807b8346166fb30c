"""The issue's published baseline numbers, reproduced on the full UCI file within 1% (skipped where it is absent).

Protocol: forward-filled, chronological split of the whole series (80/20, or the paper's 2009-12-16 cut), windows
cut inside each part, 30 lags (24 hourly means for the hourly case), scaling fitted on the training part.
"""

from __future__ import annotations

import numpy as np
import pytest

from device.contract import TARGET, WindowSpec
from device.models.families.baselines import Persistence
from device.models.families.linreg import LinearRegression
from train.data import load_measurements, resample, train_test_by_date, train_test_by_fraction
from train.evaluate import evaluate
from train.windows import cut_windows

pytestmark = [pytest.mark.fulldata, pytest.mark.slow]


@pytest.fixture(scope="module")
def filled(full_data):
    series, _ = load_measurements(full_data).fill()
    return series


def baseline_mses(series, rows, seq_len: int, horizon: int) -> tuple[float, float]:
    windows = cut_windows(series, *rows, WindowSpec(seq_len, horizon, (TARGET,)))
    persistence = evaluate("persistence", Persistence(windows.spec).predict, windows).test["mse"]
    linreg = LinearRegression.fit(windows.spec, windows.x_train, windows.y_train)
    return persistence, evaluate("linreg", linreg.predict, windows).test["mse"]


@pytest.mark.parametrize(
    ("horizon", "persistence", "least_squares"),
    [(5, 0.2199, 0.1994), (1, 0.0471, 0.0468)],
)
def test_chronological_80_20_baselines_match_the_issue(filled, horizon, persistence, least_squares):
    mses = baseline_mses(filled, train_test_by_fraction(len(filled), 0.8), 30, horizon)
    np.testing.assert_allclose(mses, (persistence, least_squares), rtol=0.01)


def test_paper_cut_minutely_baselines_match_the_issue(filled):
    mses = baseline_mses(filled, train_test_by_date(filled.minutes, "2009-12-16"), 30, 1)
    np.testing.assert_allclose(mses, (0.0498, 0.0493), rtol=0.01)


def test_paper_cut_hourly_baselines_match_the_issue(filled):
    hourly = resample(filled, "1h")
    mses = baseline_mses(hourly, train_test_by_date(hourly.minutes, "2009-12-16"), 24, 1)
    np.testing.assert_allclose(mses, (0.3748, 0.2839), rtol=0.01)
