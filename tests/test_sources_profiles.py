"""Each meter project's messages (shaped as tests/sources_examples.py cites from each project's docs) become the same
minute readings, and so the same forecasts, as the wattcast JSON of their minute means computed by hand."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from device.clock import HouseholdTime
from device.contract import MEASUREMENTS
from device.forecasting.forecaster import Forecaster
from device.models.load import load_models
from device.readings import DEFAULT_LIMITS, Reading
from device.sources.intake import SourceIntake
from device.sources.reader import Source, SourceReader, parse_reading
from device.wire import encode_reading, timestamps
from tests.device_assets import Series, build_assets
from tests.sources_examples import (
    EXAMPLES,
    HAND_MEANS_KW,
    SAMPLE_TIMES,
    T0,
    WATTS,
    shelly_gen2_message,
    shelly_gen2_voltage_only,
)

PARIS = HouseholdTime("Europe/Paris")


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    assets = build_assets(tmp_path_factory.mktemp("assets"), Series.bundled(rows=600))
    return load_models(assets, ("linreg", "persistence"))


def intake_for(spec: str | dict) -> SourceIntake:
    return SourceIntake((Source.parse(spec),), PARIS, DEFAULT_LIMITS, grace_s=5.0)


def feed(intake: SourceIntake, profile: str) -> list[Reading]:
    _, meter, build = EXAMPLES[profile]
    readings: list[Reading] = []
    for t, watts in zip(SAMPLE_TIMES, WATTS):
        for topic, payload in build(meter, t, watts):
            readings += intake.read(topic, payload, arrival_s=t)
    return readings


def wattcast_readings(meter: str, means_kw: list[float]) -> list[Reading]:
    """The same minutes as the agent's own JSON, stamped in UTC with ``Z``."""
    minutes = int(T0 // 60) + np.arange(len(means_kw))
    out = []
    for ts, kw in zip(timestamps(minutes), means_kw):
        values = dict.fromkeys(MEASUREMENTS, math.nan) | {"gap": kw}
        parsed = parse_reading(
            f"meter/{meter}/reading", encode_reading(f"{ts}Z", values), "meter", 4096, now_s=T0 + 3600
        )
        assert isinstance(parsed, Reading)
        out.append(parsed)
    return out


@pytest.mark.parametrize("profile", sorted(EXAMPLES))
def test_a_profiles_minutes_are_the_time_weighted_means_of_its_samples(profile):
    readings = feed(intake_for(EXAMPLES[profile][0]), profile)
    assert [r.meter for r in readings] == [EXAMPLES[profile][1]] * len(HAND_MEANS_KW)
    assert [r.minute - int(T0 // 60) for r in readings] == list(range(len(HAND_MEANS_KW)))
    np.testing.assert_allclose([r.values[0] for r in readings], HAND_MEANS_KW, rtol=1e-12)
    assert np.isnan(np.array([r.values[1:] for r in readings])).all()  # a power meter sends power only


@pytest.mark.parametrize("profile", sorted(EXAMPLES))
def test_a_profiles_forecasts_equal_those_of_the_same_minutes_as_wattcast_json(profile, models):
    from_source = Forecaster(models, 15).process_batch(feed(intake_for(EXAMPLES[profile][0]), profile))
    from_json = Forecaster(models, 15).process_batch(wattcast_readings("ref", HAND_MEANS_KW))
    got = [(p.model, p.minute, p.predicted_kw) for s in from_source for p in s.predictions]
    want = [(p.model, p.minute, p.predicted_kw) for s in from_json for p in s.predictions]
    assert len(got) == 2 * (len(HAND_MEANS_KW) - 1)
    assert [g[:2] for g in got] == [w[:2] for w in want]
    np.testing.assert_allclose([g[2] for g in got], [w[2] for w in want], rtol=1e-9)


def test_tasmota_sums_the_phases_of_a_multichannel_device():
    intake = intake_for("tasmota")
    body = {"Time": "2026-11-20T11:00:00", "ENERGY": {"Power": [100, 250, 650]}}
    intake.read("tele/pow3/SENSOR", json.dumps(body).encode(), T0)
    later = {"Time": "2026-11-20T11:01:10", "ENERGY": {"Power": [0, 0, 0]}}
    (minute,) = intake.read("tele/pow3/SENSOR", json.dumps(later).encode(), T0 + 70)
    assert minute.values[0] == pytest.approx(1.0)  # 1,000 W over the whole minute, in kW


def test_tasmota_sensor_messages_without_energy_are_counted_as_rejected():
    intake = intake_for("tasmota")
    assert intake.read("tele/t1/SENSOR", b'{"Time":"2026-11-20T11:00:00","Switch1":"ON"}', T0) == []
    assert intake.snapshot()["tasmota"]["rejected"] == {"no_power": 1}


def test_shelly_gen2_keeps_the_last_full_state_so_a_partial_status_holds_the_power():
    intake = intake_for("shelly-gen2")
    intake.read(*shelly_gen2_message("pro3em", T0, 600)[0], T0)
    intake.read(*shelly_gen2_voltage_only("pro3em", T0 + 30), T0 + 30)  # no power in it: 600 W still holds
    (minute,) = intake.read(*shelly_gen2_message("pro3em", T0 + 70, 0)[0], T0 + 70)
    assert minute.values[0] == pytest.approx(0.6)
    assert intake.snapshot()["shelly-gen2"]["samples"] == 3


def test_shelly_gen2_sums_the_phases_when_the_total_is_absent():
    reader = SourceReader.build(Source("shelly-gen2"), PARIS, DEFAULT_LIMITS)
    body = {
        "method": "NotifyStatus",
        "params": {"ts": T0, "em:0": {"a_act_power": 100, "b_act_power": 200, "c_act_power": -50}},
    }
    meter, sample = reader.decode("pro3em-x/events/rpc", json.dumps(body).encode(), T0)
    assert (meter, sample.kw, sample.t_s) == ("pro3em-x", pytest.approx(0.25), T0)


def test_shelly_gen2_events_that_are_not_statuses_are_rejected_and_counted():
    intake = intake_for("shelly-gen2")
    event = {"method": "NotifyEvent", "params": {"ts": T0, "events": [{"component": "input:0", "event": "btn_down"}]}}
    intake.read("plus1pm/events/rpc", json.dumps(event).encode(), T0)
    assert intake.snapshot()["shelly-gen2"]["rejected"] == {"not_a_status": 1}


def test_a_plain_number_profile_without_a_declared_unit_is_refused_with_what_to_declare():
    with pytest.raises(ValueError, match="esphome sends plain numbers.*--source esphome:W"):
        intake_for("esphome")


def test_dsmr_reader_split_reads_kilowatts_drawn_from_a_numeric_string():
    reader = SourceReader.build(Source("dsmr-reader-split"), PARIS, DEFAULT_LIMITS)
    meter, sample = reader.decode("dsmr/reading/electricity_currently_delivered", b"00.196", T0)
    assert (meter, sample.kw) == ("dsmr", pytest.approx(0.196))


def test_statestream_unavailable_is_a_missing_value_counted_not_a_zero():
    intake = intake_for("statestream:W")
    intake.read("homeassistant/sensor/house_power/state", b"400", T0)
    intake.read("homeassistant/sensor/house_power/state", b"unavailable", T0 + 30)
    (minute,) = intake.read("homeassistant/sensor/house_power/state", b"400", T0 + 70)
    assert minute.values[0] == pytest.approx(0.4)  # the unavailable half minute is left out of the mean
    assert intake.snapshot()["statestream"]["missing_values"] == 1


def test_negative_net_power_is_counted_and_clipped_to_zero():
    intake = intake_for("zigbee2mqtt")
    intake.read("zigbee2mqtt/solar_meter", b'{"power": -800}', T0)
    (minute,) = intake.read("zigbee2mqtt/solar_meter", b'{"power": 200}', T0 + 70)
    assert minute.values[0] == 0.0
    assert intake.snapshot()["zigbee2mqtt"]["negative_clipped"] == 1


def test_a_toml_source_may_set_its_own_topic_meter_unit_and_field():
    source = Source.parse(
        {"profile": "zigbee2mqtt", "topic": "z2m/garage/plug", "meter": "garage", "unit": "kW", "field": "load.active"}
    )
    reader = SourceReader.build(source, PARIS, DEFAULT_LIMITS)
    meter, sample = reader.decode("z2m/garage/plug", b'{"load": {"active": 1.5}}', T0)
    assert (meter, sample.kw) == ("garage", 1.5)


def test_a_meter_id_that_is_not_a_valid_id_is_rejected_with_its_topic(caplog):
    intake = intake_for("zigbee2mqtt")
    intake.read("zigbee2mqtt/Living room plug", b'{"power": 5}', T0)
    assert intake.snapshot()["zigbee2mqtt"]["rejected"] == {"bad_meter_id": 1}
    assert "zigbee2mqtt/Living room plug" in caplog.text


def test_a_late_sample_is_counted_and_logged_with_its_meter_and_topic(caplog):
    intake = intake_for("shelly-gen2")
    for t in (T0, T0 + 70, T0 + 30):  # the last one belongs to a minute already closed
        intake.read(*shelly_gen2_message("pro3em", t, 500)[0], t)
    assert intake.snapshot()["shelly-gen2"]["late"] == 1
    assert "late sample from meter pro3em on pro3em/events/rpc" in caplog.text


def test_decoder_state_is_kept_for_at_most_max_meters_devices():
    reader = SourceReader.build(Source("shelly-gen2"), PARIS, DEFAULT_LIMITS, max_meters=2)
    for device in ("a", "b", "c"):
        reader.decode(*shelly_gen2_message(device, T0, 100)[0], T0)
    assert list(reader.states) == ["b", "c"]


def test_a_tasmota_minute_between_two_teleperiods_is_held_and_its_forecasts_say_they_used_a_filled_value(models):
    """Tasmota's default TelePeriod is 300 s: the minutes between two SENSOR messages hold the last power."""
    _, meter, build = EXAMPLES["tasmota"]
    intake = intake_for(EXAMPLES["tasmota"][0])
    readings: list[Reading] = []
    for t in (T0, T0 + 300, T0 + 600):
        for topic, payload in build(meter, t, 500.0):
            readings += intake.read(topic, payload, arrival_s=t)
    # minute 9 stays open: its grace period has not passed at the last sample
    assert [r.minute - int(T0 // 60) for r in readings] == [0, 1, 2, 3, 4, 5, 6, 7, 8]
    assert [r.held for r in readings] == [False, True, True, True, True, False, True, True, True]
    assert intake.snapshot()["tasmota"]["filled_minutes"] == 7
    steps = Forecaster(models, 15).process_batch(readings)
    made = [p for step in steps for p in step.predictions]
    assert made and all(p.from_filled for p in made)  # every window from the 2nd minute on holds a held minute
