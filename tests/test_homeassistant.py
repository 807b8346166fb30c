"""Home Assistant: forecast sensors carry their target time, model and horizon as attributes and expire, meter ids
cannot collide once slugged, and an agent id outside HA's rule is refused."""

from __future__ import annotations

import json
import math

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


def test_the_meter_state_carries_target_time_model_and_horizon(mosquitto, tmp_path):
    assets = build_assets(tmp_path / "assets", Series.bundled(rows=600))
    states = Collector(BrokerSettings(mosquitto.url), ["devices/pi01/meters/+/state"])
    agent = start_agent(mosquitto, assets, tmp_path, models=("linreg",), metrics_interval_s=0.2)
    client = publisher(mosquitto.port)
    for ts in timestamps(np.arange(3) + 29_000_000):
        values = dict.fromkeys(MEASUREMENTS, math.nan) | {"gap": 0.5}
        client.publish("meter/house.main/reading", encode_reading(str(ts), values), qos=1).wait_for_publish(10)
    last_target = str(timestamps(np.array([29_000_002 + 5]))[0])

    def newest() -> list[dict]:
        return [json.loads(p)["linreg"] for p in states.payloads("devices/pi01/meters/house.main/state")]

    wait_for(lambda: any(s["target_ts"] == last_target for s in newest()), "the state of the last forecast")
    agent.stop()
    state = next(s for s in newest() if s["target_ts"] == last_target)
    assert state["model"] == "linreg" and state["horizon_minutes"] == 5
