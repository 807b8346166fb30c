"""Late and redelivered readings (NATS after ack_wait, Mosquitto after a restart): a real value that arrives for a
forward-filled minute replaces the filled one, in the scores and in later windows; what was published stays."""

from __future__ import annotations

import json

import numpy as np
import pytest

from device.clock import HouseholdTime
from device.contract import MEASUREMENTS
from device.forecasting.forecaster import Forecaster, Prediction
from device.models.load import load_models
from device.readings import Reading
from device.scoring import ErrorAccumulator
from tests.conftest import REPO
from tests.device_assets import Series, build_assets

MODELS = ("linreg", "persistence")
GAP = MEASUREMENTS.index("gap")
#: readings held back and delivered three minutes late, as a redelivery after newer ones
DELAYED = (50, 51, 120, 200, 201, 202)


@pytest.fixture(scope="module")
def series() -> Series:
    series = Series.bundled(start=0, rows=300)
    assert not np.isnan(series.raw).any()  # every minute has a real value to end up with
    return series


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    return load_models(build_assets(tmp_path_factory.mktemp("assets"), Series.bundled()), MODELS)


def late_order(n: int) -> list[int]:
    """Every reading once, the DELAYED ones after the reading three minutes later."""
    order = [i for i in range(n) if i not in DELAYED]
    for i in sorted(DELAYED, reverse=True):
        order.insert(order.index(min(d for d in range(i + 3, n) if d not in DELAYED)) + 1, i)
    return order


def replay(
    models, series: Series, order: list[int], local_minutes=None
) -> tuple[Forecaster, list[Prediction], list[Prediction], list[Prediction]]:
    """(forecaster, every prediction made, every scoring in the order it happened, the re-scorings alone)."""
    forecaster = Forecaster(models, max_gap_minutes=15, local_minutes=local_minutes)
    made, scorings, rescorings = [], [], []
    for i in order:
        step = forecaster.process(Reading("m1", int(series.minutes[i]), series.raw[i]))
        made += step.predictions
        scorings += step.scored + step.rescored
        rescorings += step.rescored
    return forecaster, made, scorings, rescorings


def test_the_late_order_delivers_every_reading_once_with_some_late():
    order = late_order(300)
    assert sorted(order) == list(range(300)) and order != list(range(300))


def test_every_scored_prediction_ends_scored_against_the_real_value(models, series):
    forecaster, _, scorings, _ = replay(models, series, late_order(len(series)))
    real = dict(zip(series.minutes.tolist(), series.raw[:, GAP].tolist()))
    for model in MODELS:
        final = {p.target_minute: p for p in scorings if p.model == model}  # a re-scoring overrides the first
        assert all(p.actual_kw == real[p.target_minute] for p in final.values())
        expected = ErrorAccumulator()
        expected.add([p.predicted_kw for p in final.values()], [p.actual_kw for p in final.values()])
        online = forecaster.errors(model)
        assert online.count == expected.count == len(series) - 1 - 5 - len(DELAYED)  # no forecast at a late minute
        assert online.mse == pytest.approx(expected.mse, abs=1e-9)
        assert online.mae == pytest.approx(expected.mae, abs=1e-9)


def test_predictions_scored_against_a_filled_value_are_rescored(models, series):
    *_, rescorings = replay(models, series, late_order(len(series)))
    first = int(series.minutes[0])
    targets = [p.target_minute - first for p in rescorings if p.model == "persistence"]
    # a late minute re-scores itself and the filled minutes after it that had been filled from the older value
    # (minute 51 first took 50's late value, then its own)
    assert targets == [50, 51, 51, 120, 200, 201, 202, 201, 202, 202]


def test_forecasts_from_filled_input_are_flagged_and_stay_as_published(models, series):
    _, late_made, *_ = replay(models, series, late_order(len(series)))
    _, ordered_made, *_ = replay(models, series, list(range(len(series))))
    ordered = {(p.model, p.minute): p.predicted_kw for p in ordered_made}
    flagged = [p for p in late_made if p.from_filled]
    assert flagged and all(p.model in MODELS for p in flagged)
    # a flagged linreg forecast saw a filled row, so it differs from the in-order one; it was not re-made
    assert any(p.predicted_kw != ordered[(p.model, p.minute)] for p in flagged if p.model == "linreg")
    assert len(late_made) == len(ordered_made) - 2 * len(DELAYED)  # no forecast at a minute that came late


def test_windows_after_the_late_values_arrived_use_the_real_values(models, series):
    _, late_made, *_ = replay(models, series, late_order(len(series)))
    _, ordered_made, *_ = replay(models, series, list(range(len(series))))
    ordered = {(p.model, p.minute): p.predicted_kw for p in ordered_made}
    clean = [p for p in late_made if not p.from_filled]
    assert len(clean) > 200
    assert all(p.predicted_kw == pytest.approx(ordered[(p.model, p.minute)], abs=1e-9) for p in clean)


def test_a_late_value_rewrites_the_calendar_features_on_the_household_s_clock_too():
    """The shipped mcu_lstm_int8 (the hour and day of week at every step of its window) with the agent's Paris clock:
    windows holding refilled minutes equal those of the in-order replay."""
    calendar = load_models(REPO / "firmware_assets", ("mcu_lstm_int8",))
    series = Series.bundled(start=0, rows=300)
    paris = HouseholdTime("Europe/Paris").local_minutes
    _, late_made, _, rescorings = replay(calendar, series, late_order(len(series)), paris)
    _, ordered_made, *_ = replay(calendar, series, list(range(len(series))), paris)
    ordered = {p.minute: p.predicted_kw for p in ordered_made}
    clean = [p for p in late_made if not p.from_filled]
    assert rescorings and len(clean) > 200
    assert all(p.predicted_kw == pytest.approx(ordered[p.minute], abs=1e-9) for p in clean)


def test_a_late_value_arriving_after_a_restart_from_the_state_is_rescored_the_same(models, series):
    order = late_order(len(series))
    cut = order.index(50)  # the restart falls between the hole at minutes 50-51 and their late values
    never_stopped, _, _, uninterrupted = replay(models, series, order)
    before = Forecaster(models, max_gap_minutes=15)
    for i in order[:cut]:
        before.process(Reading("m1", int(series.minutes[i]), series.raw[i]))
    after = Forecaster(models, max_gap_minutes=15)
    after.restore(json.loads(json.dumps(before.state())), set(MODELS))
    rescorings = []
    for i in order[cut:]:
        rescorings += after.process(Reading("m1", int(series.minutes[i]), series.raw[i])).rescored

    def key(p: Prediction) -> tuple:
        return p.model, p.minute, p.target_minute, p.predicted_kw, p.actual_kw

    assert [key(p) for p in rescorings] == [key(p) for p in uninterrupted]  # every re-scoring came after the cut
    for model in MODELS:
        assert after.errors(model).mse == pytest.approx(never_stopped.errors(model).mse, abs=1e-12)
