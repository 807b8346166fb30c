"""The day-ahead series model (48 half-hours with P10/P50/P90): the contract's inputs at 30-minute steps, the
shipped model's window and quantiles, the device's predictions equal to the offline evaluation's, and EMHASS's
default forecaster run side by side by the bench."""

import json
import os
import subprocess

import numpy as np
import pytest

from convert.series import SERIES_ASSETS, ship_series
from device.contract import SERIES_SEQ_LEN, TARGET, SeriesSpec, series_input_names, series_inputs, series_window
from device.models.load import load_models
from device.series_scoring import SeriesScores
from tests.emhass_venv import REPO, emhass_python
from tests.test_series import _device_and_offline, assert_scores_as_its_manifest_says
from train.data import SplitSpec
from train.day_ahead import MODEL_NAME, DayAheadConfig
from train.series import run

QUANTILES = (0.1, 0.5, 0.9)
NEXT_DAY = series_window(SeriesSpec(30, 48), (TARGET, "hour_sin", "hour_cos", "dow_sin", "dow_cos"))


def test_day_ahead_inputs_see_the_last_twelve_hours_and_each_half_hour_of_yesterday_and_the_week():
    minutes = np.arange(SERIES_SEQ_LEN + 100)
    rows = np.stack([minutes.astype(float), *(np.zeros_like(minutes),) * 4], axis=1)
    end = SERIES_SEQ_LEN + 50
    names = series_input_names(NEXT_DAY)
    inputs = dict(zip(names, series_inputs(rows, np.array([end]), NEXT_DAY)[0], strict=True))
    assert len(names) == 24 + 48 + 48 + 1 + 4 and names[-2:] == ("dow_sin", "dow_cos")
    assert inputs[f"mean_{TARGET}_block_-0"] == end - 14.5  # rows end-29..end
    assert inputs[f"mean_{TARGET}_block_-23"] == end - 23 * 30 - 14.5  # twelve hours back
    assert inputs[f"{TARGET}_1d_ago_step_1"] == end - 1440 + 15.5  # rows end-1439..end-1410
    assert inputs[f"{TARGET}_1d_ago_step_48"] == end - 14.5  # the last half-hour: yesterday's is the newest
    assert inputs[f"{TARGET}_mean_7d_step_48"] == end - 14.5 - 1440 * 3


def test_a_batch_of_consecutive_windows_gets_the_same_inputs_as_each_window_alone():
    """The host averages each block once for a batch of overlapping windows; a device computes its one window's
    blocks: bit for bit the same numbers."""
    rows = np.random.default_rng(0).random((SERIES_SEQ_LEN + 3000, 5))
    ends = np.arange(SERIES_SEQ_LEN, SERIES_SEQ_LEN + 1500)
    batch = series_inputs(rows, ends, NEXT_DAY)
    alone = np.stack([series_inputs(rows, ends[i : i + 1], NEXT_DAY)[0] for i in range(0, len(ends), 97)])
    np.testing.assert_array_equal(batch[::97], alone)


def test_the_shipped_next_day_model_predicts_on_the_device_what_the_offline_evaluation_did():
    (model,) = load_models(SERIES_ASSETS, (MODEL_NAME,))
    assert model.entry.window == NEXT_DAY and model.entry.quantiles == (0.1, 0.5, 0.9)
    assert model.entry.to_dict()["window"]["series"] == {"step_minutes": 30, "steps": 48}
    device, offline, actual = _device_and_offline(model, SplitSpec().data, windows=32)
    assert device.shape == (32, 48, 3)
    np.testing.assert_array_equal(device, offline)
    assert (np.diff(device, axis=2) >= 0).all()
    one_by_one, batch = SeriesScores((0.1, 0.5, 0.9), 48), SeriesScores((0.1, 0.5, 0.9), 48)
    for forecast, truth in zip(device, actual, strict=True):
        one_by_one.add(forecast[None], truth[None])
    batch.add(offline, actual)
    for key in ("mse", "mae", "pinball", "coverage"):
        np.testing.assert_allclose(one_by_one.per_step()[key], batch.per_step()[key], rtol=1e-12)


def test_the_shipped_next_day_entry_records_its_full_file_test_scores():
    (model,) = load_models(SERIES_ASSETS, (MODEL_NAME,))
    test = model.entry.metrics["test"]
    assert test["n"] == model.entry.metrics["windows"]["test"] > 400_000
    assert len(test["mse"]) == len(test["coverage"]) == 48


@pytest.mark.slow
def test_train_ship_load_the_day_ahead_on_the_shipped_slice(tmp_path):
    config = DayAheadConfig(out=tmp_path / "docs", model_dir=tmp_path / "run", epochs=1)
    results = run(config, "python -m train.day_ahead")
    assert "| 48 (t+1411..t+1440) |" in (tmp_path / "docs" / "table.md").read_text()
    assert results["command"].startswith("python -m train.day_ahead")
    ship_series(tmp_path / "run" / f"{MODEL_NAME}.json", tmp_path / "assets")
    (model,) = load_models(tmp_path / "assets", (MODEL_NAME,))
    device, offline, _ = _device_and_offline(model, config.data, windows=8)
    np.testing.assert_array_equal(device, offline)
    assert model.entry.metrics["test"] == results["models"][next(iter(results["models"]))]


@pytest.mark.slow
@pytest.mark.fulldata
def test_the_shipped_next_day_model_scores_what_its_manifest_says_on_every_test_window_of_the_full_file(full_data):
    assert_scores_as_its_manifest_says(MODEL_NAME, full_data)


@pytest.mark.slow
def test_emhass_default_forecaster_runs_beside_the_day_ahead_on_the_same_origins(tmp_path):
    """Under EMHASS's own venv: its MLForecaster (KNN on 48 lags, refitted on 9 days) and the same forecaster fitted
    on the whole training part forecast the slice's test days next to series_next_day, every step scored."""
    python = emhass_python()
    out = tmp_path / "emhass.md"
    done = subprocess.run(
        [str(python), "-m", "bench.emhass_forecaster", "--max-origins", "3", "--out", str(out)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.with_suffix(".json").read_text())
    assert results["origins"] == 3 and results["machine"].count("emhass 0.18")
    models = results["models"]
    assert any(name.startswith("EMHASS MLForecaster") for name in models) and "series_next_day (median)" in models
    for scores in models.values():
        assert scores["n"] == 3 and len(scores["mse"]) == 48 and np.isfinite(scores["mse"]).all()
    assert "| **mean of 48** |" in out.read_text()


def _next_day_message() -> dict:
    from device.forecasting.series import SeriesForecast, series_message

    medians = np.arange(1, 49) * 0.05
    kw = np.stack([medians - 0.02, medians, medians + 0.03], axis=1)
    return series_message(SeriesForecast("house1", MODEL_NAME, 29_000_000, SeriesSpec(30, 48), QUANTILES, kw, 1, 1))


def test_the_day_ahead_series_gives_emhass_its_whole_day_at_its_thirty_minute_step():
    from device.emhass import load_power_forecast

    message = _next_day_message()
    assert load_power_forecast(message, 30) == [round(50.0 * (s + 1), 1) for s in range(48)]
    assert load_power_forecast(message, 60) == [round(50.0 * (2 * h + 1.5), 1) for h in range(24)]


def test_the_emhass_command_hands_over_only_the_model_it_is_told(tmp_path, capsys):
    from device.emhass import main

    path = tmp_path / "series.json"
    path.write_text(json.dumps(_next_day_message()))
    assert main(["--meter", "house1", "--series-file", str(path), "--model", MODEL_NAME]) == 0
    assert len(json.loads(capsys.readouterr().out)["load_power_forecast"]) == 48
    assert main(["--meter", "house1", "--series-file", str(path), "--model", "series_next_hour"]) == 1


@pytest.mark.slow
def test_emhass_dayahead_optim_returns_a_plan_for_our_day_ahead_series(tmp_path):
    """End to end: the shipped model forecasts a held-out day of the slice, ``device.emhass`` turns the series message
    into EMHASS's runtime parameters, and EMHASS's own ``dayahead-optim`` (its default configuration: two deferrable
    loads, the first 4 h at 3 kW; flat prices, no PV) plans the day on it."""
    from device.emhass import runtime_parameters
    from device.forecasting.series import SeriesForecast, series_message

    python = emhass_python()
    (model,) = load_models(SERIES_ASSETS, (MODEL_NAME,))
    device, _, _ = _device_and_offline(model, SplitSpec().data, windows=1)
    forecast = SeriesForecast("house1", MODEL_NAME, 29_000_000, SeriesSpec(30, 48), QUANTILES, device[0], 1, 1)
    body = runtime_parameters(series_message(forecast))
    out = tmp_path / "plan.json"
    done = subprocess.run(
        [str(python), str(REPO / "tests" / "emhass" / "dayahead_plan.py"), str(out)],
        input=json.dumps(body),
        env={k: v for k, v in os.environ.items() if k != "SUPERVISOR_TOKEN"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    plan = json.loads(out.read_text())
    assert len(plan) == 48 and {row["optim_status"] for row in plan} == {"Optimal"}
    assert [row["P_Load"] for row in plan] == pytest.approx(body["load_power_forecast"])
    assert sum(row["P_deferrable0"] for row in plan) * 0.5 == pytest.approx(4 * 3000.0, rel=1e-6)  # Wh
    for row in plan:
        assert row["P_grid"] == pytest.approx(row["P_Load"] + row["P_deferrable0"] + row["P_deferrable1"], abs=1e-3)
