"""Home Assistant: forecast sensors carry their target time, model and horizon as attributes and expire, meter ids
cannot collide once slugged, and an agent id outside HA's rule is refused."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest

from device.config import AgentConfig
from device.contract import MEASUREMENTS
from device.mqtt import homeassistant
from device.mqtt.settings import BrokerSettings
from device.wire import encode_reading, timestamps
from tests.collector import Collector
from tests.device_assets import Series, build_assets
from tests.test_agent_mqtt import publisher, start_agent, wait_for

CONFIG = AgentConfig(agent_id="pi01", ha_expire_after_s=300)
#: What Home Assistant accepts (its ``homeassistant/components/sensor/const.py`` DEVICE_CLASS_UNITS, and
#: ``homeassistant/const.py`` UnitOfPower / UnitOfTime, where microseconds are U+03BC), for the device classes the
#: agent uses: a quick check in the project's own venv; tests/test_homeassistant_core.py runs HA 2025.4.4's own code.
HA_DEVICE_CLASS_UNITS = {
    "power": {"mW", "W", "kW", "MW", "GW", "TW"},
    "duration": {"d", "h", "min", "s", "ms", "\u03bcs"},
}
#: discovery keys of HA's MQTT sensor schema (homeassistant/components/mqtt/sensor.py and its abbreviations) that the
#: agent sends
HA_SENSOR_KEYS = {
    "name", "unique_id", "object_id", "default_entity_id", "state_topic", "value_template", "availability_topic",
    "payload_available", "payload_not_available", "device", "origin", "device_class", "unit_of_measurement",
    "suggested_display_precision", "state_class", "entity_category", "icon", "enabled_by_default",
    "json_attributes_topic", "json_attributes_template", "expire_after",
}  # fmt: skip
MODELS = ["linreg", "lstm_int8", "persistence"]


def every_config() -> list[dict]:
    return [p for _, p in homeassistant.discovery_configs(CONFIG, MODELS, ["m1", "house.main"], "lstm_int8")]


def test_every_config_has_a_valid_unit_for_its_device_class_a_display_precision_and_an_icon():
    for payload in every_config():
        assert set(payload) <= HA_SENSOR_KEYS, set(payload) - HA_SENSOR_KEYS
        assert payload["unit_of_measurement"] in HA_DEVICE_CLASS_UNITS[payload["device_class"]], payload["name"]
        assert isinstance(payload["suggested_display_precision"], int)
        assert payload["icon"].startswith("mdi:")
    latency = next(p for p in every_config() if p["name"] == "linreg inference latency p50")
    assert latency["unit_of_measurement"] == "\u03bcs" and latency["device_class"] == "duration"


def test_only_the_recommended_models_entities_are_enabled_by_default():
    enabled = {p["name"] for p in every_config() if p["enabled_by_default"]}
    assert enabled == {
        "lstm_int8 online RMSE",
        "lstm_int8 inference latency p50",
        "m1 predicted power (lstm_int8)",
        "house.main predicted power (lstm_int8)",
    }


def test_the_agent_recommends_the_manifests_first_int8_lstm(tmp_path):
    from device.models.manifest import load_manifest

    entries = list(load_manifest(Path("firmware_assets")).models.values())
    assert homeassistant.recommended_model(entries) == "lstm_int8"


def test_entity_ids_are_fixed_by_object_id_too_and_do_not_depend_on_arrival_order():
    first = {p["unique_id"]: p for p in every_config()}
    other_order = [p for _, p in homeassistant.discovery_configs(CONFIG, MODELS, ["house.main", "m1"], "lstm_int8")]
    assert {p["unique_id"] for p in other_order} == set(first)
    for payload in other_order:
        assert (
            payload["object_id"] == payload["unique_id"]
            and payload["default_entity_id"] == "sensor." + payload["object_id"]
        )


def test_a_forecast_state_says_its_target_time_with_its_offset():
    from device.forecasting.forecaster import Prediction

    state = homeassistant.forecast_state(Prediction("m1", "linreg", 29_000_000, 29_000_005, 0.52345678901234, 1, 1))
    assert state == {
        "predicted_kw": 0.5235,
        "target_ts": "2025-02-19T21:25:00+00:00",
        "model": "linreg",
        "horizon_minutes": 5,
    }


def test_a_forecast_is_shown_only_while_its_meter_was_measured_within_five_minutes():
    assert homeassistant.fresh_enough(100, 95) and not homeassistant.fresh_enough(100, 94)
    assert not homeassistant.fresh_enough(100, None)


def test_a_forecast_sensor_takes_its_attributes_from_the_meter_state_and_expires():
    ((topic, payload),) = homeassistant.meter_configs(CONFIG, "m1", ["linreg"])
    assert payload["json_attributes_topic"] == payload["state_topic"] == "devices/pi01/meters/m1/state"
    assert payload["json_attributes_template"] == "{{ value_json['linreg'] | tojson }}"
    assert payload["expire_after"] == 300


def test_meter_ids_that_slug_alike_keep_distinct_ids_and_topics():
    dotted = homeassistant.meter_configs(CONFIG, "house.main", ["linreg"])[0]
    underscored = homeassistant.meter_configs(CONFIG, "house_main", ["linreg"])[0]
    assert dotted[0] != underscored[0]
    assert dotted[1]["unique_id"] != underscored[1]["unique_id"]
    assert underscored[1]["unique_id"] == "wattcast_pi01_house_main_linreg_predicted"  # a safe id is kept as is


@pytest.mark.parametrize("agent_id", ["pi.01", "pi 01", "pi/01", "", "pi01#"])
def test_an_agent_id_outside_home_assistants_rule_is_refused(agent_id):
    with pytest.raises(ValueError, match=r"agent_id must match \[a-zA-Z0-9_-\]\+"):
        AgentConfig(agent_id=agent_id)


def send_three_minutes(port: int, meter: str) -> None:
    """Three whole minutes of 0.5 kW (from minute 29,000,000) on ``meter``'s wattcast topic, each acknowledged."""
    client = publisher(port)
    for ts in timestamps(np.arange(3) + 29_000_000):
        values = dict.fromkeys(MEASUREMENTS, math.nan) | {"gap": 0.5}
        client.publish(f"meter/{meter}/reading", encode_reading(str(ts), values), qos=1).wait_for_publish(10)


def test_the_meter_state_carries_target_time_model_and_horizon(mosquitto, tmp_path):
    assets = build_assets(tmp_path / "assets", Series.bundled(rows=600))
    states = Collector(BrokerSettings(mosquitto.url), ["devices/pi01/meters/+/state"])
    agent = start_agent(mosquitto, assets, tmp_path, models=("linreg",), metrics_interval_s=0.2)
    send_three_minutes(mosquitto.port, "house.main")
    last_target = str(timestamps(np.array([29_000_002 + 5]))[0]) + "+00:00"  # UTC, with its offset

    def newest() -> list[dict]:
        return [json.loads(p)["linreg"] for p in states.payloads("devices/pi01/meters/house.main/state")]

    wait_for(lambda: any(s["target_ts"] == last_target for s in newest()), "the state of the last forecast")
    agent.stop()
    state = next(s for s in newest() if s["target_ts"] == last_target)
    assert state["model"] == "linreg" and state["horizon_minutes"] == 5


def test_forecast_states_are_not_retained_so_a_restarted_home_assistant_gets_no_expired_forecast(mosquitto, tmp_path):
    assets = build_assets(tmp_path / "assets", Series.bundled(rows=600))
    states = Collector(BrokerSettings(mosquitto.url), ["devices/pi01/meters/+/state"])
    agent = start_agent(mosquitto, assets, tmp_path, models=("linreg",), metrics_interval_s=0.2)
    send_three_minutes(mosquitto.port, "m1")
    wait_for(lambda: states.payloads("devices/pi01/meters/m1/state"), "a forecast state")
    agent.stop()
    assert json.loads(states.payloads("devices/pi01/meters/m1/state")[-1])["linreg"]["target_ts"].endswith("+00:00")
    restarted_ha = Collector(BrokerSettings(mosquitto.url), ["devices/pi01/meters/+/state"])
    time.sleep(1.0)  # a retained state would arrive at once on subscribing
    assert restarted_ha.payloads("devices/pi01/meters/m1/state") == []


def series_configs(recommended_series: str | None) -> list[dict]:
    models = ["linreg", "series_next_hour", "series_other"]
    configs = homeassistant.discovery_configs(
        CONFIG, models, ["m1"], "linreg", {"series_next_hour": 60, "series_other": 60}, recommended_series
    )
    return [p for _, p in configs]


def test_a_series_sensor_passes_the_same_schema_check_and_takes_the_series_as_its_forecast_attribute():
    (config,) = [p for p in series_configs("series_next_hour") if p["name"] == "m1 next hour (series_next_hour)"]
    assert set(config) <= HA_SENSOR_KEYS, set(config) - HA_SENSOR_KEYS
    assert config["unit_of_measurement"] in HA_DEVICE_CLASS_UNITS[config["device_class"]]
    assert isinstance(config["suggested_display_precision"], int) and config["icon"].startswith("mdi:")
    assert config["value_template"] == "{{ value_json['series_next_hour'].kw }}"
    assert config["json_attributes_template"] == "{{ value_json['series_next_hour'] | tojson }}"
    assert config["expire_after"] == 300 and config["json_attributes_topic"] == "devices/pi01/meters/m1/state"


def test_a_series_model_gets_a_series_sensor_not_a_point_one_and_only_the_recommended_series_is_enabled():
    names = {p["name"]: p["enabled_by_default"] for p in series_configs("series_next_hour")}
    assert names["m1 next hour (series_next_hour)"] is True and names["m1 next hour (series_other)"] is False
    assert "m1 predicted power (series_next_hour)" not in names and "series_next_hour online RMSE" not in names
    assert names["m1 predicted power (linreg)"] is True
    assert not any(p["enabled_by_default"] for p in series_configs(None) if "next hour" in p["name"])


def test_the_recommended_point_model_is_never_a_series_model_and_the_series_one_is_the_first_series():
    from convert.series import SERIES_ASSETS
    from device.models.manifest import load_manifest

    point = list(load_manifest(Path("firmware_assets")).models.values())
    series = list(load_manifest(SERIES_ASSETS).models.values())
    assert homeassistant.recommended_model(series + point) == "lstm_int8"
    assert homeassistant.recommended_model(series) is None
    assert homeassistant.recommended_series(point + series) == "series_next_hour"
    assert homeassistant.recommended_series(point) is None


def test_a_series_state_carries_the_next_step_as_kw_and_every_step_with_its_start_and_interval():
    from device.contract import SeriesSpec
    from device.forecasting.series import SeriesForecast

    kw = np.array([[0.4, 0.5, 0.7], [0.3, 0.6, 0.9]])
    forecast = SeriesForecast("m1", "s", 29_000_000, SeriesSpec(5, 2), (0.1, 0.5, 0.9), kw, 1, 1)
    assert homeassistant.series_state(forecast) == {
        "kw": 0.5,
        "made_ts": "2025-02-19T21:20:00+00:00",
        "model": "s",
        "forecast": [
            {"datetime": "2025-02-19T21:21:00+00:00", "kw": 0.5, "p10": 0.4, "p90": 0.7},
            {"datetime": "2025-02-19T21:26:00+00:00", "kw": 0.6, "p10": 0.3, "p90": 0.9},
        ],
    }


def test_a_series_sensor_is_named_by_its_horizon():
    day = homeassistant.discovery_configs(CONFIG, ["series_next_day"], ["m1"], None, {"series_next_day": 1440})
    names = [p["name"] for _, p in day if p["unique_id"].endswith("_series")]
    assert names == ["m1 next day (series_next_day)"]
    assert homeassistant.horizon_label(60) == "next hour" and homeassistant.horizon_label(90) == "next 90 minutes"
