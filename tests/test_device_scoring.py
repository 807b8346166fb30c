"""Online scoring in the agent equals the host's offline streaming evaluation of the same series, to 1e-6."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from device.contract import MEASUREMENTS
from device.forecaster import Forecaster
from device.models import load_models
from device.payload import Reading
from tests.device_assets import TFLITE_MODELS, Series, build_assets, build_assets_in_child, offline_metrics

REAL_ASSETS = Path(__file__).resolve().parents[1] / "firmware_assets"
NUMPY_MODELS = ("linreg", "linreg_q15", "persistence", "trend")


@pytest.fixture(scope="module")
def series() -> Series:
    return Series.bundled(start=8000, rows=1200)  # ends in the file's run of "?" rows


@pytest.fixture(scope="module")
def numpy_assets(tmp_path_factory) -> Path:
    return build_assets(tmp_path_factory.mktemp("assets"), Series.bundled())


@pytest.fixture(scope="module")
def tflite_assets(tmp_path_factory) -> Path:
    return build_assets_in_child(tmp_path_factory.mktemp("tflite_assets"))


def replay(models, series: Series) -> Forecaster:
    forecaster = Forecaster(models, max_gap_minutes=15)
    for minute, raw in zip(series.minutes, series.raw):
        forecaster.process(Reading("m1", int(minute), raw))
    return forecaster


def assert_online_equals_offline(models, series: Series) -> None:
    forecaster = replay(models, series)
    for model in models:
        online = forecaster.errors(model.name)
        offline = offline_metrics(model, series)
        assert online.count == offline["n"] == len(series) - 1 - model.entry.window.horizon
        assert online.mse == pytest.approx(offline["mse"], abs=1e-6)
        assert online.mae == pytest.approx(offline["mae"], abs=1e-6)
        assert online.mape == pytest.approx(offline["mape"], abs=1e-6)


def test_the_series_has_null_readings(series):
    assert np.isnan(series.raw[:, MEASUREMENTS.index("gap")]).sum() > 0


def test_numpy_models_score_the_same_online_as_offline(numpy_assets, series):
    assert_online_equals_offline(load_models(numpy_assets, NUMPY_MODELS), series)


def test_tflite_models_score_the_same_online_as_offline(tflite_assets, series):
    assert_online_equals_offline(load_models(tflite_assets, TFLITE_MODELS), series)


@pytest.mark.skipif(not (REAL_ASSETS / "manifest.json").is_file(), reason="firmware_assets/ not converted yet")
def test_converted_models_score_the_same_online_as_offline(series):
    from device.manifest import load_manifest

    names = tuple(load_manifest(REAL_ASSETS).models)
    assert_online_equals_offline(load_models(REAL_ASSETS, names), series)


def test_predictions_start_at_the_second_reading(numpy_assets, series):
    forecaster = Forecaster(load_models(numpy_assets, ("persistence",)), max_gap_minutes=15)
    first = forecaster.process(Reading("m1", int(series.minutes[0]), series.raw[0]))
    second = forecaster.process(Reading("m1", int(series.minutes[1]), series.raw[1]))
    assert first.predictions == []
    assert [p.target_minute for p in second.predictions] == [int(series.minutes[1]) + 5]


def test_a_prediction_is_scored_when_its_target_minute_arrives(numpy_assets, series):
    forecaster = Forecaster(load_models(numpy_assets, ("persistence",)), max_gap_minutes=15)
    steps = [forecaster.process(Reading("m1", int(m), r)) for m, r in zip(series.minutes[:7], series.raw[:7])]
    assert [len(s.scored) for s in steps] == [0, 0, 0, 0, 0, 0, 1]
    scored = steps[6].scored[0]
    assert scored.minute == series.minutes[1] and scored.actual_kw == series.raw[6, MEASUREMENTS.index("gap")]


def test_meters_are_scored_separately(numpy_assets, series):
    forecaster = Forecaster(load_models(numpy_assets, ("persistence",)), max_gap_minutes=15)
    for minute, raw in zip(series.minutes[:20], series.raw[:20]):
        forecaster.process(Reading("a", int(minute), raw))
    for minute, raw in zip(series.minutes[:10], series.raw[:10]):
        forecaster.process(Reading("b", int(minute), raw))
    assert forecaster.meters["a"].tracks["persistence"].errors.count == 14
    assert forecaster.meters["b"].tracks["persistence"].errors.count == 4
    assert forecaster.errors("persistence").count == 18
