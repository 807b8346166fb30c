"""Online scoring in the agent equals the host's offline streaming evaluation of the same series, to 1e-6."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from device.contract import MEASUREMENTS
from device.forecasting.forecaster import Forecaster
from device.models.load import load_models
from device.readings import Reading
from tests.device_assets import TFLITE_MODELS, Series, build_assets, build_assets_in_child, offline_metrics

REAL_ASSETS = Path(__file__).resolve().parents[1] / "firmware_assets"
NUMPY_MODELS = ("linreg", "linreg_q15", "persistence", "trend_line")


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


@pytest.mark.slow
def test_tflite_models_score_the_same_online_as_offline(tflite_assets, series):
    assert_online_equals_offline(load_models(tflite_assets, TFLITE_MODELS), series)


@pytest.mark.slow  # the CNN-BiLSTM, one window at a time
@pytest.mark.skipif(not (REAL_ASSETS / "manifest.json").is_file(), reason="firmware_assets/ not converted yet")
def test_converted_models_score_the_same_online_as_offline(series):
    from device.models.manifest import load_manifest

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


def _messy_stream(series: Series) -> list[Reading]:
    """Two meters interleaved, with resends, a late reading, a gap longer than the fill limit and nulls."""
    readings = []
    for k, (minute, raw) in enumerate(zip(series.minutes[:400], series.raw[:400])):
        if 200 <= k < 220:
            continue  # a 20-minute outage: the meter is reset
        readings.append(Reading("a", int(minute), raw))
        if k % 3 == 0:
            readings.append(Reading("b", int(minute), raw * 1.1))
        if k % 17 == 0:
            readings.append(Reading("a", int(minute), raw))  # a QoS 1 resend
        if k % 29 == 0 and k > 3:
            readings.append(Reading("a", int(series.minutes[k - 3]), raw))  # late
    return readings


def test_a_batch_of_readings_gives_what_the_same_readings_give_one_by_one(numpy_assets, series):
    models = load_models(numpy_assets, NUMPY_MODELS)
    readings = _messy_stream(series)
    one_by_one = Forecaster(models, max_gap_minutes=15)
    singles = [one_by_one.process(r) for r in readings]
    batched = Forecaster(models, max_gap_minutes=15)
    cuts = np.cumsum(np.random.default_rng(7).integers(1, 60, size=len(readings)))
    steps = []
    for start, end in zip(np.r_[0, cuts], cuts):
        steps += batched.process_batch(readings[start:end])
        if end >= len(readings):
            break

    def fates(step):
        return (
            step.update.outcome,
            [(p.model, p.target_minute, p.predicted_kw) for p in step.predictions],
            [(p.model, p.minute, p.actual_kw) for p in step.scored],
            len(step.dropped),
        )

    assert [fates(s) for s in steps] == [fates(s) for s in singles]
    for model in models:
        assert batched.errors(model.name).count == one_by_one.errors(model.name).count > 0
        assert batched.errors(model.name).mse == pytest.approx(one_by_one.errors(model.name).mse, abs=1e-9)


def test_a_new_meter_past_the_cap_evicts_the_one_heard_from_least_recently(numpy_assets, series):
    forecaster = Forecaster(load_models(numpy_assets, ("persistence",)), max_gap_minutes=15, max_meters=2)
    for meter in ("a", "b", "a"):
        forecaster.process(Reading(meter, int(series.minutes[0]), series.raw[0]))
        forecaster.process(Reading(meter, int(series.minutes[1]), series.raw[1]))
    step = forecaster.process(Reading("c", int(series.minutes[0]), series.raw[0]))
    assert list(forecaster.meters) == ["a", "c"]
    assert forecaster.evicted_meters == 1
    assert [p.meter for p in step.dropped] == ["b"]  # b's pending prediction can never be scored now


def test_every_model_gets_its_cpu_time_sampled_however_many_run_side_by_side(numpy_assets, series):
    models = load_models(numpy_assets, NUMPY_MODELS)
    forecaster = Forecaster(models, max_gap_minutes=15)
    steps = [forecaster.process(Reading("m1", int(m), r)) for m, r in zip(series.minutes[:40], series.raw[:40])]
    sampled = {p.model for s in steps for p in s.predictions if p.cpu_ns >= 0}
    assert sampled == set(NUMPY_MODELS)
