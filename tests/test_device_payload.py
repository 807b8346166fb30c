"""The wattcast wire format: what the simulator encodes the agent parses back unchanged; range checks reject
physically absurd values and timestamps by reason, missing values are not faults."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import numpy as np
import pytest

from device.config import load_config
from device.contract import MEASUREMENTS
from device.readings import DEFAULT_LIMITS, Reading, ReadingLimits, Rejected
from device.sources.reader import parse_reading
from device.wire import encode_reading, reading_topic, timestamps

TOPIC = "meter/m1/reading"
GOOD = {"ts": "2007-04-22T00:00:00", "gap": 0.504, "grp": 0.354, "v": 240.65, "gi": 2.8, "sm1": 0, "sm2": 1, "sm3": 0}
NOW_S = datetime(2025, 6, 1, 12, 0, tzinfo=UTC).timestamp()


def parse(limits: ReadingLimits = DEFAULT_LIMITS, **changes) -> Reading | Rejected:
    return parse_reading(TOPIC, json.dumps({**GOOD, **changes}).encode(), "meter", 4096, limits, now_s=NOW_S)


def reason(result: Reading | Rejected) -> str | None:
    return result.reason if isinstance(result, Rejected) else None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("gap", -0.1),
        ("gap", 1e308),
        ("gap", 50.01),
        ("grp", -1.0),
        ("grp", 51.0),
        ("v", -230.0),
        ("v", 500.5),
        ("gi", -2.8),
        ("gi", 250.1),
        ("sm1", -1),
        ("sm2", 1000.5),
        ("sm3", 10**308),
    ],
)
def test_a_value_outside_its_physical_range_is_rejected_as_out_of_range(field, value):
    result = parse(**{field: value})
    assert reason(result) == "out_of_range"
    assert result.detail.startswith(f"{field}=")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("gap", 0.0),
        ("gap", 50.0),
        ("grp", 0.0),
        ("v", 0.0),
        ("v", 500.0),
        ("gi", 250.0),
        ("sm1", 1000),
        ("sm3", 0),
    ],
)
def test_the_bounds_themselves_are_accepted(field, value):
    assert isinstance(parse(**{field: value}), Reading)


def test_the_real_data_maxima_are_far_inside_the_defaults():
    # The UCI house's largest values: 11.122 kW, 1.39 kvar, 254.15 V, 48.4 A, 88 / 80 / 31 Wh per minute.
    assert isinstance(parse(gap=11.122, grp=1.39, v=254.15, gi=48.4, sm1=88, sm2=80, sm3=31), Reading)


def test_missing_values_stay_missing_and_are_not_range_faults():
    result = parse_reading(TOPIC, b'{"ts": "2007-04-22T00:00:00", "gap": NaN, "v": null, "gi": 2.8}', "meter", 4096)
    assert isinstance(result, Reading)
    missing = [name for name, value in zip(MEASUREMENTS, result.values) if np.isnan(value)]
    assert missing == ["gap", "grp", "v", "sm1", "sm2", "sm3"]  # NaN, absent, null, absent...


@pytest.mark.parametrize(
    "ts", ["1900-01-01T00:00:00", "1999-12-31T23:59:00", "9999-12-31T23:59:00", "2025-06-02T12:01:00"]
)
def test_a_timestamp_outside_the_window_is_rejected_as_ts_out_of_range(ts):
    assert reason(parse(ts=ts)) == "ts_out_of_range"


@pytest.mark.parametrize(
    "ts",
    ["2000-01-01T00:00:00", "2006-12-16T17:24:00", "2010-11-26T21:02:00", "2025-06-01T12:00:00", "2025-06-02T12:00:00"],
)
def test_replays_of_the_2006_2010_data_and_live_readings_up_to_a_day_ahead_are_accepted(ts):
    assert isinstance(parse(ts=ts), Reading)


def test_the_timestamp_window_is_measured_from_the_wall_clock_by_default():
    tomorrow = datetime.now(UTC).replace(tzinfo=None, microsecond=0).isoformat()
    assert isinstance(parse_reading(TOPIC, json.dumps({**GOOD, "ts": tomorrow}).encode(), "meter", 4096), Reading)
    far = json.dumps({**GOOD, "ts": "2100-01-01T00:00:00"}).encode()
    assert reason(parse_reading(TOPIC, far, "meter", 4096)) == "ts_out_of_range"


def test_limits_are_configurable():
    strict = ReadingLimits(max_power_kw=5.0, earliest_ts="2007-01-01", max_ahead_minutes=0)
    assert reason(parse(strict, gap=6.0)) == "out_of_range"
    assert reason(parse(strict, ts="2006-12-31T23:59:00")) == "ts_out_of_range"
    assert reason(parse(strict, ts="2025-06-01T12:01:00")) == "ts_out_of_range"
    assert isinstance(parse(strict, gap=5.0), Reading)


def test_a_bad_earliest_timestamp_is_refused_when_the_limits_are_made():
    with pytest.raises(ValueError, match="earliest_ts"):
        ReadingLimits(earliest_ts="last year")


def test_the_agent_options_build_the_limits_and_default_to_the_same():
    config = load_config(
        ["--max-power-kw", "20", "--max-ahead-minutes", "60", "--earliest-ts", "2005-01-01"], environ={}
    )
    assert config.reading_limits == ReadingLimits(max_power_kw=20.0, max_ahead_minutes=60, earliest_ts="2005-01-01")
    assert load_config([], environ={}).reading_limits == DEFAULT_LIMITS


def test_what_the_simulator_encodes_the_agent_parses_back_unchanged_with_nulls_as_nan():
    minute = 19_000_000
    values = {**{k: float(v) for k, v in GOOD.items() if k != "ts"}, "grp": float("nan")}
    (ts,) = timestamps(np.array([minute]))
    result = parse_reading(reading_topic("house.main"), encode_reading(str(ts), values), "meter", 4096, now_s=NOW_S)
    assert (result.meter, result.minute) == ("house.main", minute)
    np.testing.assert_array_equal(result.values, [values[k] for k in MEASUREMENTS])
