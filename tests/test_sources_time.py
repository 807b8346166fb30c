"""Time: UTC inside, offsets honoured, naive times read in the household's zone, both DST changes without a gap or a
duplicate minute, and the calendar features on the household's clock as in the (French local time) training data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from device.clock import HouseholdTime
from device.contract import MinMaxScaling, WindowSpec, feature_matrix
from device.forecasting.forecaster import Forecaster
from device.forecasting.stream import MeterStream
from device.models.families import family
from device.models.families.baselines import Persistence
from device.models.kinds import ModelKind
from device.models.load import LoadedModel
from device.readings import DEFAULT_LIMITS, Reading, parse_minute
from device.sources.intake import SourceIntake
from device.sources.reader import Source, parse_reading
from tests.sources_examples import tasmota_message, utc

PARIS = HouseholdTime("Europe/Paris")
NOW = utc("2026-12-01T15:00:00+00:00")


def wattcast(ts: object, household: HouseholdTime | None = PARIS) -> Reading:
    payload = json.dumps({"ts": ts, "gap": 0.5}).encode()
    reading = parse_reading("meter/m1/reading", payload, "meter", 4096, DEFAULT_LIMITS, NOW, household)
    assert isinstance(reading, Reading)
    return reading


def test_an_iso_offset_is_honoured_not_stripped():
    assert wattcast("2026-12-01T14:34:00+01:00").minute == utc("2026-12-01T13:34:00+00:00") // 60
    assert wattcast("2026-12-01T13:34:00Z").minute == utc("2026-12-01T13:34:00+00:00") // 60


def test_after_an_offset_reading_the_meters_next_readings_are_not_late():
    """The issue's report: the stripped offset put the meter an hour ahead and dropped its next readings as late."""
    stream = MeterStream(dedupe_minutes=1440, max_gap_minutes=15, needed=("gap",))
    outcomes = [
        stream.accept(r.minute, r.values).outcome.value
        for r in (wattcast("2026-12-01T14:34:00+01:00"), wattcast("2026-12-01T13:35:00Z"))
    ]
    assert outcomes == ["accepted", "accepted"]


def test_epoch_seconds_are_accepted():
    assert wattcast(utc("2026-12-01T13:34:30+00:00")).minute == utc("2026-12-01T13:34:00+00:00") // 60


def test_a_naive_time_is_read_in_the_households_zone():
    assert wattcast("2026-12-01T14:34:00").minute == utc("2026-12-01T13:34:00+00:00") // 60
    assert wattcast("2026-07-01T14:34:00").minute == utc("2026-07-01T12:34:00+00:00") // 60  # summer time
    assert wattcast("2026-12-01T14:34:00", HouseholdTime("UTC")).minute == utc("2026-12-01T14:34:00+00:00") // 60


def test_an_unknown_zone_is_refused_with_what_to_give():
    with pytest.raises(ValueError, match="unknown time zone 'Europe/Pariss'.*IANA"):
        HouseholdTime("Europe/Pariss")


@pytest.mark.parametrize(
    "change_utc", ["2026-03-29T01:00:00+00:00", "2026-10-25T01:00:00+00:00"], ids=["spring-forward", "fall-back"]
)
def test_a_dst_change_gives_no_gap_and_no_duplicate_minute(change_utc):
    """Tasmota stamps local wall clock without a zone: across 02:00->03:00 (March) and 03:00->02:00 (October, the
    hour 02:00-02:59 happens twice) the minutes must still follow each other in UTC."""
    intake = SourceIntake((Source("tasmota"),), PARIS, DEFAULT_LIMITS, grace_s=0)
    start = utc(change_utc) - 90 * 60
    readings = []
    for k in range(181):  # one sample a minute for three hours around the change
        t = start + 60 * k + 10
        for topic, payload in tasmota_message("plug1", t, 100.0 + k):
            readings += intake.read(topic, payload, arrival_s=t + 1)
    minutes = [r.minute for r in readings]
    assert minutes == list(range(int(start // 60), int(start // 60) + 180))
    assert intake.snapshot()["tasmota"]["late"] == 0


def test_local_minutes_follow_the_household_clock_across_the_autumn_change():
    change = int(utc("2026-10-25T01:00:00+00:00") // 60)
    local = PARIS.local_minutes(np.array([change - 1, change, change + 1]))
    assert (local - [change - 1, change, change + 1]).tolist() == [120, 60, 60]  # CEST (+2) then CET (+1)


def test_the_calendar_features_are_computed_on_the_household_clock():
    spec = WindowSpec(seq_len=2, horizon=1, features=("gap", "hour_sin", "hour_cos"))
    model = LoadedModel(
        "cal",
        family(ModelKind.PERSISTENCE).entry(name="cal", window=spec),
        Persistence(spec),
        _identity(spec),
        0,
        0,
        "numpy",
    )
    forecaster = Forecaster([model], 15, local_minutes=PARIS.local_minutes)
    utc_minute = int(utc("2026-12-01T13:00:00+00:00") // 60)  # 14:00 in Paris
    forecaster.process(Reading("m1", utc_minute, np.array([0.5] + [np.nan] * 6)))
    row = forecaster.meters["m1"].tracks["cal"].features.last(1)[0]
    paris_14h = feature_matrix({"gap": np.array([0.5])}, np.array([utc_minute + 60]), spec.features)[0]
    np.testing.assert_allclose(row, paris_14h, atol=1e-6)


def _identity(spec: WindowSpec) -> MinMaxScaling:
    return MinMaxScaling((0.0,) * spec.n_features, (1.0,) * spec.n_features)


def test_parse_minute_without_a_zone_keeps_utc():
    assert parse_minute("1970-01-01T00:02:00") == 2
