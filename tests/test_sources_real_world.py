"""What real homes send besides the normal payloads (issue 22), each case with the payload as the device's own docs
show it: nothing stale, foreign or missing is taken as a measured minute."""

from __future__ import annotations

import json
import logging

import pytest

from device.clock import HouseholdTime
from device.readings import DEFAULT_LIMITS, Reading
from device.sources.intake import SourceIntake
from device.sources.reader import Source
from tests.sources_examples import T0

PARIS = HouseholdTime("Europe/Paris")
MINUTE0 = int(T0 // 60)


def intake_for(*specs: str | dict, zone: HouseholdTime = PARIS) -> SourceIntake:
    return SourceIntake(tuple(Source.parse(s) for s in specs), zone, DEFAULT_LIMITS, grace_s=5.0)


def minutes_of(readings: list[Reading]) -> list[tuple[int, float, bool]]:
    return [(r.minute - MINUTE0, round(float(r.values[0]), 6), r.held) for r in readings]


# --- case 1: null is a missing value ---------------------------------------------------------------------------


def test_a_zigbee2mqtt_null_power_is_a_missing_value_left_out_of_the_mean_not_the_earlier_value_held():
    """Zigbee2MQTT publishes ``"power": null`` when a plug has no reading (zigbee2mqtt.io device pages list power as
    a nullable numeric expose)."""
    intake = intake_for("zigbee2mqtt")
    readings = []
    for dt, power in ((0, 900), (30, None), (40, 600), (70, 600), (130, 600)):
        body = {"state": "ON", "power": power, "energy": 1.23, "linkquality": 120}
        readings += intake.read("zigbee2mqtt/kitchen_plug", json.dumps(body).encode(), T0 + dt)
    # minute 0: 900 W for 30 s, unknown for 10 s, 600 W for 20 s: the mean of what is known, not 900 W held on
    assert minutes_of(readings) == [(0, 0.78, False), (1, 0.6, False)]
    counts = intake.snapshot()["zigbee2mqtt"]
    assert counts["missing_values"] == 1 and counts["rejected"] == {}


def test_a_tasmota_null_power_is_a_missing_value_and_a_minute_of_nulls_is_not_a_held_minute():
    """Tasmota's SENSOR message with ``"Power": null`` (a channel without a reading)."""
    intake = intake_for("tasmota")
    readings = []
    for dt, power in ((0, 500), (60, None), (90, None), (180, 700), (250, 700)):
        wall = "2026-11-20T11:{:02d}:{:02d}".format(*divmod(dt, 60))
        body = {"Time": wall, "ENERGY": {"Power": power, "Voltage": 231}}
        readings += intake.read("tele/plug1/SENSOR", json.dumps(body).encode(), T0 + dt)
    # minute 1 and 2 hold only nulls: absent (for the stream to fill and mark), never 0.5 kW held and shown as read
    assert minutes_of(readings) == [(0, 0.5, False), (3, 0.7, False)]
    assert intake.snapshot()["tasmota"]["missing_values"] == 2


# --- case 2: a retained message is never a measured minute ------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "topic", "payload", "meter"),
    [
        ("esphome:W", "node1/sensor/power/state", b"777.0", "node1"),  # a dead ESPHome node's last state
        ("statestream:W", "homeassistant/sensor/house_power/state", b"1500", "house_power"),
        (  # DSMR-reader publishes its telegram retained, always: this one is 3 hours old
            "dsmr-reader",
            "dsmr/json",
            json.dumps(
                {
                    "timestamp": "2026-11-20T07:00:00Z",
                    "electricity_currently_delivered": "0.523",
                    "electricity_currently_returned": "0.000",
                }
            ).encode(),
            "dsmr",
        ),
    ],
    ids=["esphome", "statestream", "dsmr-reader"],
)
def test_a_retained_message_is_counted_and_logged_with_its_meter_never_a_minute_nor_a_forecasts_basis(
    spec, topic, payload, meter, caplog
):
    caplog.set_level(logging.WARNING)
    intake = intake_for(spec)
    assert intake.read(topic, payload, T0, retained=True) == []
    assert intake.tick(T0 + 3600) == []  # no minute comes of it, held or otherwise
    counts = intake.snapshot()[Source.parse(spec).profile]
    assert counts["rejected"] == {"retained": 1} and counts["samples"] == 0
    assert f"meter {meter}" in caplog.text and "(retained)" in caplog.text


def test_after_a_retained_message_the_first_minute_comes_from_live_samples_only():
    intake = intake_for("esphome:W")
    intake.read("node1/sensor/power/state", b"777.0", T0, retained=True)
    readings = []
    for dt in (10, 40, 70):
        readings += intake.read("node1/sensor/power/state", b"200.0", T0 + dt)
    assert minutes_of(readings) == [(0, 0.2, False)]


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    from tests.device_assets import Series, build_assets

    return build_assets(tmp_path_factory.mktemp("assets"), Series.bundled(rows=600))


def test_the_agent_takes_the_brokers_retain_flag_a_retained_telegram_at_start_is_counted_not_read(mosquitto, assets):
    from tests.test_agent_mqtt import publisher, wait_for
    from tests.test_sources_agent import start

    client = publisher(mosquitto.port)
    telegram = {
        "timestamp": "2026-11-20T07:00:00Z",
        "electricity_currently_delivered": "0.523",
        "electricity_currently_returned": "0.000",
    }
    client.publish("dsmr/json", json.dumps(telegram).encode(), qos=1, retain=True).wait_for_publish(10)
    agent = start(mosquitto, assets, ("dsmr-reader",))
    wait_for(lambda: agent.intake.counters["dsmr-reader"]["messages"] == 1, "the retained telegram")
    sources = agent.stop()["sources"]
    assert sources["dsmr-reader"]["rejected"] == {"retained": 1}
    assert (sources["dsmr-reader"]["samples"], sources["dsmr-reader"]["minutes"]) == (0, 0)


# --- case 3: a clock in another zone is never shifted silently ---------------------------------------------------

LONDON = HouseholdTime("Europe/London")


def tasmota_at(wall: str, watts: float) -> bytes:
    """Tasmota's SENSOR message, ``Time`` its local wall clock without a zone (``support.ino`` GetDateAndTime)."""
    return json.dumps({"Time": wall, "ENERGY": {"Power": watts, "Voltage": 231}}).encode()


def test_a_tasmota_on_its_default_fixed_utc_plus_1_in_a_london_house_is_rejected_as_future_with_the_fix(caplog):
    """Tasmota's default ``Timezone 1`` is a fixed UTC+1: at 10:00 UTC in November it stamps 11:00, which read in
    Europe/London (UTC+0 then) is an hour ahead of the message's arrival."""
    caplog.set_level(logging.WARNING)
    intake = intake_for("tasmota", zone=LONDON)
    assert intake.read("tele/plug1/SENSOR", tasmota_at("2026-11-20T11:00:00", 450), T0) == []
    assert intake.tick(T0 + 600) == []
    assert intake.snapshot()["tasmota"]["rejected"] == {"future": 1}
    (line,) = [r.getMessage() for r in caplog.records if "(future)" in r.getMessage()]
    for said in ("meter plug1", "+3600 s", "1 h", "time zone", 'timezone = "Etc/GMT-1"', "[[source]]"):
        assert said in line


def test_a_sources_own_time_zone_reads_its_clock_right():
    intake = intake_for({"profile": "tasmota", "timezone": "Etc/GMT-1"}, zone=LONDON)
    readings = []
    for dt in (0, 30, 70):
        wall = "2026-11-20T11:{:02d}:{:02d}".format(*divmod(dt, 60))
        readings += intake.read("tele/plug1/SENSOR", tasmota_at(wall, 450), T0 + dt)
    assert minutes_of(readings) == [(0, 0.45, False)]


def test_a_sample_a_little_ahead_of_its_arrival_is_taken_a_drifting_clock_is_not_a_zone_error():
    intake = intake_for("tasmota", zone=LONDON)
    intake.read("tele/plug1/SENSOR", tasmota_at("2026-11-20T10:01:50", 450), T0)  # 110 s ahead: taken
    assert intake.snapshot()["tasmota"]["samples"] == 1


def test_a_clock_steadily_a_whole_hour_behind_is_taken_but_named_as_a_probable_zone_error(caplog):
    """A Tasmota set to UTC (``Timezone 0``) in a Paris house: its stamps read in Paris are an hour early."""
    caplog.set_level(logging.WARNING)
    intake = intake_for("tasmota")
    for dt in range(0, 300, 30):
        wall = "2026-11-20T10:{:02d}:{:02d}".format(*divmod(dt, 60))
        intake.read("tele/plug1/SENSOR", tasmota_at(wall, 450), T0 + dt)
    lines = [r.getMessage() for r in caplog.records if "zone" in r.getMessage()]
    assert len(lines) == 1  # once per meter
    for said in ("meter plug1", "-3600 s", "1 h", 'timezone = "Etc/GMT"'):
        assert said in lines[0]
    assert intake.snapshot()["tasmota"]["clock_zone_suspects"] == 1
