"""Series models (the next hour in five-minute steps with P10/P50/P90): the contract computes their inputs, the
manifest declares their window and quantiles, the device's predictions equal the offline evaluation's."""

import json

import numpy as np
import pytest

from convert.series import SERIES_ASSETS, ship_series
from device.contract import (
    MEASUREMENTS,
    SERIES_SEQ_LEN,
    TARGET,
    SeriesSpec,
    WindowSpec,
    series_input_names,
    series_inputs,
    series_targets,
    series_window,
    window_rows,
)
from device.forecasting.forecaster import model_rows
from device.models.load import LoadedModel, load_models
from device.models.manifest import SHIPPED_ASSETS, load_manifest
from device.series_scoring import SeriesScores, pinball
from train.data import SplitSpec, load_split
from train.series import MODEL_NAME, SeriesConfig, cut_series_windows, run, window_ends

NEXT_HOUR = series_window(SeriesSpec(5, 12))


def test_a_series_window_round_trips_through_json_and_point_windows_read_as_before():
    assert NEXT_HOUR.to_dict()["series"] == {"step_minutes": 5, "steps": 12}
    assert WindowSpec.from_dict(json.loads(json.dumps(NEXT_HOUR.to_dict()))) == NEXT_HOUR
    point = WindowSpec()
    assert "series" not in point.to_dict() and WindowSpec.from_dict(point.to_dict()) == point


def test_the_shipped_point_manifest_still_loads_without_series_or_quantiles():
    manifest = load_manifest(SHIPPED_ASSETS)
    assert manifest.models and all(e.window.series is None and e.quantiles == () for e in manifest.models.values())
    assert all("quantiles" not in e.to_dict() for e in manifest.models.values())


def test_series_targets_are_the_means_of_the_following_blocks():
    target = np.arange(100, dtype=float)
    y = series_targets(target, np.array([9]), SeriesSpec(5, 3))
    assert y.tolist() == [[12.0, 17.0, 22.0]]  # rows 10..14, 15..19, 20..24


def test_series_inputs_see_the_last_two_hours_yesterday_and_the_week_at_the_forecast_time():
    minutes = np.arange(SERIES_SEQ_LEN + 100)
    rows = np.stack([minutes.astype(float), np.zeros_like(minutes), np.ones_like(minutes)], axis=1)
    end = SERIES_SEQ_LEN + 50
    inputs = dict(zip(series_input_names(NEXT_HOUR), series_inputs(rows, np.array([end]), NEXT_HOUR)[0], strict=True))
    assert inputs[f"mean_{TARGET}_block_-0"] == end - 2  # mean of rows end-4..end
    assert inputs[f"mean_{TARGET}_block_-23"] == end - 23 * 5 - 2
    assert inputs[f"{TARGET}_1d_ago_step_1"] == end - 1440 + 3  # rows end-1439..end-1435
    assert inputs[f"{TARGET}_mean_7d_step_12"] == end + 58 - 1440 * 4  # mean over days 1..7 of rows end+56..end+60
    assert inputs[f"{TARGET}_last"] == end and inputs["hour_cos"] == 1.0


def test_series_inputs_refuse_a_window_shorter_than_a_week():
    with pytest.raises(ValueError, match="rows before their end"):
        series_inputs(np.zeros((SERIES_SEQ_LEN, 3)), np.array([SERIES_SEQ_LEN - 2]), NEXT_HOUR)


def test_pinball_charges_under_forecasts_at_the_quantile_and_over_forecasts_at_its_complement():
    assert pinball(np.array([1.0]), np.array([3.0]), 0.9).tolist() == pytest.approx([1.8])
    assert pinball(np.array([3.0]), np.array([1.0]), 0.9).tolist() == pytest.approx([0.2])


def test_series_scores_per_step():
    scores = SeriesScores((0.1, 0.5, 0.9), steps=2)
    predicted = np.array([[[0.0, 1.0, 2.0], [0.0, 1.0, 2.0]], [[0.0, 1.0, 2.0], [0.0, 1.0, 2.0]]])
    scores.add(predicted, np.array([[1.0, 3.0], [2.0, 1.0]]))
    table = scores.per_step()
    assert table["n"] == 2 and table["mse"] == [0.5, 2.0] and table["mae"] == [0.5, 1.0]
    assert table["coverage"] == [1.0, 0.5]


def _device_and_offline(model: LoadedModel, data, windows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(device kW, offline kW, actual kW) for ``windows`` evenly spaced held-out windows of ``data``: the device feeds
    the predictor one ring-like window at a time, made by the agent's own feature path; the offline evaluation cuts
    the whole test part at once, as train.series does."""
    split = load_split(SplitSpec(data, "fraction"))
    series, spec = split.series, model.entry.window
    raw = np.stack([series.values[m] for m in MEASUREMENTS], axis=1)
    device_rows = model_rows(model, series.clock_minutes, raw)
    _, test_ends = window_ends(split.train, split.test, spec.horizon, 1)
    chosen = test_ends[np.linspace(0, len(test_ends) - 1, windows).astype(int)]
    device = np.stack(
        [
            model.predictor.predict(window_rows(device_rows, np.array([e]), spec.seq_len), np.array([0]))[0]
            for e in chosen
        ]
    )
    offline_windows = cut_series_windows(device_rows, test_ends, spec)
    offline = model.predictor.predict_inputs(offline_windows.inputs)[np.isin(test_ends, chosen)]
    actual = offline_windows.targets[np.isin(test_ends, chosen)]
    inverse = model.scaling.inverse_target
    return inverse(device), inverse(offline), inverse(actual)


def test_the_shipped_next_hour_model_predicts_on_the_device_what_the_offline_evaluation_did():
    (model,) = load_models(SERIES_ASSETS, (MODEL_NAME,))
    assert model.entry.quantiles == (0.1, 0.5, 0.9)
    assert model.entry.window.series == SeriesSpec(5, 12)
    device, offline, actual = _device_and_offline(model, SplitSpec().data, windows=64)
    assert device.shape == (64, 12, 3)
    np.testing.assert_array_equal(device, offline)
    assert (np.diff(device, axis=2) >= 0).all()  # P10 <= P50 <= P90
    online, batch = SeriesScores((0.1, 0.5, 0.9), 12), SeriesScores((0.1, 0.5, 0.9), 12)
    for one, truth in zip(device, actual, strict=True):
        online.add(one[None], truth[None])
    batch.add(offline, actual)
    for key in ("mse", "mae", "pinball", "coverage"):
        np.testing.assert_allclose(online.per_step()[key], batch.per_step()[key], rtol=1e-12)


def test_the_shipped_next_hour_interval_holds_75_to_85_percent_on_every_step_of_the_full_test():
    """The issue's goal, on the figures the manifest records (the fulldata test below re-scores them): P10-P90 holds
    the actual 5-minute mean 75-85% of the time at every step, over every test window of the full file."""
    (model,) = load_models(SERIES_ASSETS, (MODEL_NAME,))
    test = model.entry.metrics["test"]
    assert test["n"] == 414992 and len(test["coverage"]) == 12
    assert all(0.75 <= c <= 0.85 for c in test["coverage"]), test["coverage"]


@pytest.mark.slow
def test_train_ship_load_on_the_shipped_slice(tmp_path):
    config = SeriesConfig(out=tmp_path / "docs", model_dir=tmp_path / "run", epochs=1)
    results = run(config)
    table = (tmp_path / "docs" / "table.md").read_text()
    assert "### P10-P90 coverage" in table and "seasonal naive (mean of 7 days)" in table
    assert results["windows"]["test"] > 3000
    ship_series(tmp_path / "run" / f"{MODEL_NAME}.json", tmp_path / "assets")
    (model,) = load_models(tmp_path / "assets", (MODEL_NAME,))
    device, offline, _ = _device_and_offline(model, config.data, windows=16)
    np.testing.assert_array_equal(device, offline)
    shipped_scores = results["models"][next(iter(results["models"]))]
    assert model.entry.metrics["test"] == shipped_scores


@pytest.mark.slow
@pytest.mark.fulldata
def test_the_shipped_model_scores_what_its_manifest_says_on_every_test_window_of_the_full_file(full_data):
    assert_scores_as_its_manifest_says(MODEL_NAME, full_data)


def assert_scores_as_its_manifest_says(name: str, data, chunk: int = 50_000) -> None:
    """A shipped series model, re-scored on every test window of ``data`` (in chunks of windows, to bound memory),
    scores per step what its manifest entry says."""
    (model,) = load_models(SERIES_ASSETS, (name,))
    split = load_split(SplitSpec(data, "fraction"))
    series, spec = split.series, model.entry.window
    assert spec.series is not None
    rows = model_rows(model, series.clock_minutes, np.stack([series.values[m] for m in MEASUREMENTS], axis=1))
    _, test_ends = window_ends(split.train, split.test, spec.horizon, 1)
    scores = SeriesScores(model.entry.quantiles, spec.series.steps)
    inverse = model.scaling.inverse_target
    for start in range(0, len(test_ends), chunk):
        test = cut_series_windows(rows, test_ends[start : start + chunk], spec)
        scores.add(inverse(model.predictor.predict_inputs(test.inputs)), inverse(test.targets))
    expected = model.entry.metrics["test"]
    assert scores.count == expected["n"] == len(test_ends)
    for key in ("mse", "mae", "pinball", "coverage"):
        np.testing.assert_allclose(scores.per_step()[key], expected[key], rtol=1e-9)
