"""``--source ha-discovery``: a sensor is a meter only when its Home Assistant discovery config says it is a power
sensor, and it is read in its own unit, with its own template (issue 22).

The configs are the ones the projects publish:
- ESPHome (esphome/components/mqtt/mqtt_component.cpp ``get_discovery_topic_``: ``<prefix>/sensor/<node>/<object_id>/
  config``; ``send_discovery_`` and mqtt_sensor.cpp ``send_discovery``: ``dev_cla``, ``unit_of_meas``, ``stat_cla``,
  ``name``, ``stat_t`` ``<node>/sensor/<object_id>/state``, ``avty_t``, ``uniq_id`` ``ESPsensor<object_id>``, ``dev``;
  abbreviated since ``use_abbreviations`` defaults to true in esphome/components/mqtt/__init__.py; the state is
  ``value_accuracy_to_string``, e.g. ``523.0``, no template).
- Zigbee2MQTT (lib/extension/homeassistant.ts: topic ``<prefix>/sensor/<ieee>/<object_id>/config``; a numeric expose
  in W gets ``device_class: power``, ``state_class: measurement``, ``state_topic`` ``zigbee2mqtt/<friendly_name>``,
  ``value_template`` ``{{ value_json["power"] }}`` (``{{ value_json.power }}`` before 2.0), ``unique_id``
  ``<ieee>_power_zigbee2mqtt``, ``object_id``, ``default_entity_id``, ``availability``, ``device``, ``origin``).
- the agent's own (device/mqtt/homeassistant.py ``meter_configs``: device_class power, kW, unique_id
  ``wattcast_...``).
"""

from __future__ import annotations

import json
import logging

import pytest

from device.agent import Agent
from device.config import AgentConfig
from device.mqtt import homeassistant
from device.readings import DEFAULT_LIMITS, Rejected
from device.sources.discovery import template_path
from device.sources.intake import SourceIntake
from device.sources.reader import Source
from tests.sources_examples import T0
from tests.test_sources_real_world import PARIS, by_meter, intake_for, readings_of

NODE = "energy-monitor"
IEEE = "0x00158d0001a2b3c4"


def esphome_config(object_id: str, device_class: str, unit: str, name: str) -> tuple[float, str, str]:
    """ESPHome's discovery config of one sensor, as its MQTT component publishes it (abbreviated, retained)."""
    payload = {
        "dev_cla": device_class,
        "unit_of_meas": unit,
        "stat_cla": "measurement",
        "name": name,
        "stat_t": f"{NODE}/sensor/{object_id}/state",
        "avty_t": f"{NODE}/status",
        "uniq_id": f"ESPsensor{object_id}",
        "dev": {
            "ids": "a0b1c2d3e4f5",
            "name": NODE,
            "sw": "2025.4.0 (config hash 0x1234abcd)",
            "mdl": "esp32dev",
            "mf": "Espressif",
            "cns": [["mac", "a0b1c2d3e4f5"]],
        },
    }
    return 0, f"homeassistant/sensor/{NODE}/{object_id}/config", json.dumps(payload)


def esphome_state(object_id: str, value: str, dt: float) -> tuple[float, str, str]:
    return dt, f"{NODE}/sensor/{object_id}/state", value


def z2m_config(prop: str, device_class: str, unit: str, template: str | None = None) -> tuple[float, str, str]:
    """Zigbee2MQTT's discovery config of one numeric expose of a plug named ``kitchen_plug``."""
    payload = {
        "availability": [{"topic": "zigbee2mqtt/bridge/state", "value_template": "{{ value_json.state }}"}],
        "device": {
            "identifiers": [f"zigbee2mqtt_{IEEE}"],
            "manufacturer": "Xiaomi",
            "model": "Mi smart plug (ZNCZ02LM)",
            "name": "kitchen_plug",
            "via_device": "zigbee2mqtt_bridge_0x00124b0012345678",
        },
        "device_class": device_class,
        "enabled_by_default": True,
        "object_id": f"kitchen_plug_{prop}",
        "default_entity_id": f"sensor.kitchen_plug_{prop}",
        "origin": {"name": "Zigbee2MQTT", "sw": "2.1.3", "url": "https://www.zigbee2mqtt.io"},
        "state_class": "measurement",
        "state_topic": "zigbee2mqtt/kitchen_plug",
        "unique_id": f"{IEEE}_{prop}_zigbee2mqtt",
        "unit_of_measurement": unit,
        "value_template": template or f'{{{{ value_json["{prop}"] }}}}',
    }
    return 0, f"homeassistant/sensor/{IEEE}/{prop}/config", json.dumps(payload)


def z2m_state(watts: float | None, dt: float) -> tuple[float, str, str]:
    body = {"power": watts, "energy": 1.23, "voltage": 231, "current": 2.3, "state": "ON", "linkquality": 120}
    return dt, "zigbee2mqtt/kitchen_plug", json.dumps(body)


def counts_of(intake: SourceIntake) -> dict:
    return intake.snapshot()["ha-discovery"]


def test_an_esphome_power_sensor_in_w_becomes_a_meter_read_in_watts_with_no_declared_unit():
    intake = intake_for("ha-discovery")
    messages = [esphome_config("house_power", "power", "W", "House Power")]
    messages += [esphome_state("house_power", v, dt) for dt, v in ((5, "523.0"), (35, "523.0"), (65, "600.0"))]
    assert by_meter(readings_of(intake, messages)) == {f"{NODE}.house_power": [(0, 0.523, False)]}
    counts = counts_of(intake)
    assert counts["metadata"] == 1 and counts["samples"] == 3 and counts["rejected"] == {}


def test_an_esphome_power_sensor_in_kw_is_read_in_kilowatts_not_divided_again():
    intake = intake_for("ha-discovery")
    messages = [esphome_config("grid_power", "power", "kW", "Grid Power")]
    messages += [esphome_state("grid_power", "0.523", dt) for dt in (5, 65)]
    assert by_meter(readings_of(intake, messages)) == {f"{NODE}.grid_power": [(0, 0.523, False)]}


@pytest.mark.parametrize(
    "template",
    ['{{ value_json["power"] }}', "{{ value_json.power }}", "{{ value_json['power'] }}"],
    ids=["z2m-2.x", "z2m-1.x", "single-quoted"],
)
def test_a_zigbee2mqtt_plugs_power_expose_is_the_meter_its_energy_and_voltage_never(template):
    intake = intake_for("ha-discovery")
    configs = [
        z2m_config("power", "power", "W", template),
        z2m_config("energy", "energy", "kWh"),
        z2m_config("voltage", "voltage", "V"),
        z2m_config("current", "current", "A"),
    ]
    states = [z2m_state(523, dt) for dt in (5, 65)]
    assert by_meter(readings_of(intake, configs + states)) == {f"{IEEE}.power": [(0, 0.523, False)]}
    counts = counts_of(intake)
    assert counts["rejected"] == {"not_power": 3}  # the three configs, once each: their states are the plug's
    assert counts["metadata"] == 1 and counts["samples"] == 2


def test_a_zigbee2mqtt_null_power_is_a_missing_value():
    intake = intake_for("ha-discovery")
    readings_of(intake, [z2m_config("power", "power", "W"), z2m_state(None, 5)])
    assert counts_of(intake)["missing_values"] == 1


def test_a_temperature_sensor_never_becomes_a_meter_its_config_and_states_are_counted_not_power():
    intake = intake_for("ha-discovery")
    messages = [esphome_config("esp_temperature", "temperature", "°C", "ESP Temperature")]
    messages += [esphome_state("esp_temperature", "21.5", dt) for dt in (5, 65, 125)]
    assert readings_of(intake, messages) == [] and intake.tick(T0 + 3600) == []
    assert counts_of(intake)["rejected"] == {"not_power": 4}


def test_a_power_sensor_in_another_unit_or_without_device_class_is_not_a_meter():
    intake = intake_for("ha-discovery")
    messages = [
        esphome_config("solar_mw", "power", "mW", "Solar mW"),
        esphome_config("plain_watts", "", "W", "Watts without a class"),
    ]
    messages += [esphome_state("solar_mw", "523000", 5), esphome_state("plain_watts", "523", 5)]
    assert readings_of(intake, messages) == []
    assert counts_of(intake)["rejected"] == {"not_power": 4}


def test_a_template_outside_the_subset_is_counted_and_logged_with_the_sensor_never_evaluated(caplog):
    intake = intake_for("ha-discovery")
    tricky = "{{ (value_json.power | float * 1000) | round(0) }}"
    messages = [z2m_config("power", "power", "W", tricky), z2m_state(523, 5), z2m_state(523, 65)]
    with caplog.at_level(logging.WARNING, "wattcast.sources"):
        assert readings_of(intake, messages) == []
    assert counts_of(intake)["rejected"] == {"unsupported_template": 3}
    logged = [r.getMessage() for r in caplog.records if "unsupported_template" in r.getMessage()]
    assert logged and f"{IEEE}.power" in logged[0] and tricky in logged[0]


def test_the_agents_own_discovery_configs_are_own_output_and_their_states_never_read():
    """Its configs on its own node (``homeassistant/sensor/<agent_id>/...``) and, from another agent on the same
    broker (so not under this one's topics), any config whose unique_id is ``wattcast_...``."""
    config = AgentConfig(agent_id="pi01")
    other = AgentConfig(agent_id="pi02")
    mine = homeassistant.meter_configs(config, f"{IEEE}.power", ["linreg"], "linreg")
    theirs = homeassistant.meter_configs(other, f"{IEEE}.power", ["linreg"], "linreg")
    source = ({"profile": "ha-discovery", "topic": "devices/#"},)  # wide enough to see their forecast states
    intake = SourceIntake(tuple(map(Source.parse, source)), PARIS, DEFAULT_LIMITS, own_topics=Agent.own_topics(config))
    state = json.dumps({"linreg": {"predicted_kw": 0.5}})
    messages = [(0, topic, json.dumps(payload)) for topic, payload in mine + theirs]
    messages += [
        (dt, homeassistant.meter_state_topic(c, f"{IEEE}.power"), state) for c in (config, other) for dt in (5, 65)
    ]
    assert readings_of(intake, messages) == []
    rejected = counts_of(intake)["rejected"]
    assert rejected["own_output"] == 4  # its own config and state topics (3), the other agent's config (1)
    assert rejected["not_discovered"] == 2 and counts_of(intake)["samples"] == 0


def test_an_empty_config_removes_the_sensor():
    intake = intake_for("ha-discovery")
    added = esphome_config("house_power", "power", "W", "House Power")
    removed = (30, added[1], "")
    messages = [added, esphome_state("house_power", "500", 5), removed, esphome_state("house_power", "500", 65)]
    assert readings_of(intake, messages) == []
    counts = counts_of(intake)
    assert counts["samples"] == 1 and counts["metadata"] == 2 and counts["rejected"] == {"not_discovered": 1}


def test_a_retained_config_is_learnt_a_retained_state_is_not_a_measurement():
    intake = intake_for("ha-discovery")
    _, topic, payload = esphome_config("house_power", "power", "W", "House Power")
    intake.read(topic, payload.encode(), T0, retained=True)  # discovery configs are always retained
    intake.read(f"{NODE}/sensor/house_power/state", b"777.0", T0 + 1, retained=True)  # a dead node's last value
    live = [esphome_state("house_power", "523.0", dt) for dt in (5, 65)]
    assert by_meter(readings_of(intake, live)) == {f"{NODE}.house_power": [(0, 0.523, False)]}
    assert counts_of(intake)["rejected"] == {"retained": 1}


def test_a_base_topic_and_abbreviated_template_are_expanded_as_home_assistant_does():
    intake = intake_for({"profile": "ha-discovery", "topic": "meters/#"})
    config = {
        "~": "meters/garage",
        "stat_t": "~/tele",
        "dev_cla": "power",
        "unit_of_meas": "W",
        "val_tpl": "{{ value_json.ENERGY.Power | float }}",
        "uniq_id": "garage_power",
    }
    messages = [(0, "homeassistant/sensor/garage/config", json.dumps(config))]
    messages += [(dt, "meters/garage/tele", json.dumps({"ENERGY": {"Power": 523}})) for dt in (5, 65)]
    assert by_meter(readings_of(intake, messages)) == {"garage": [(0, 0.523, False)]}


def test_a_state_topic_no_config_declared_is_counted_not_discovered():
    intake = intake_for("ha-discovery")
    messages = [(5, "zigbee2mqtt/bridge/state", '{"state":"online"}'), esphome_state("house_power", "500", 5)]
    assert readings_of(intake, messages) == []
    assert counts_of(intake)["rejected"] == {"not_discovered": 2}


def test_a_power_sensor_whose_state_topic_is_not_subscribed_is_named_in_a_warning(caplog):
    intake = intake_for("ha-discovery")
    config = {"dev_cla": "power", "unit_of_meas": "W", "stat_t": "tele/plug/SENSOR", "uniq_id": "plug_power"}
    with caplog.at_level(logging.WARNING, "wattcast.sources"):
        readings_of(intake, [(0, "homeassistant/sensor/plug/power/config", json.dumps(config))])
    assert any("plug.power" in r.getMessage() and "tele/plug/SENSOR" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize(
    ("template", "path"),
    [
        (None, ()),
        ("{{ value }}", ()),
        ("{{ value | float }}", ()),
        ("{{ value_json.power }}", ("power",)),
        ('{{ value_json["power"] }}', ("power",)),
        ("{{ value_json['em:0'].act_power }}", ("em:0", "act_power")),
        ("{{ value_json.ENERGY.Power[1] | float }}", ("ENERGY", "Power", "1")),
    ],
)
def test_the_template_subset_selects_a_value_path(template, path):
    assert template_path(template) == path


@pytest.mark.parametrize(
    "template",
    [
        "{{ value_json.power | round(2) }}",
        "{{ value | float(0) }}",
        "{{ value_json.power * 1000 }}",
        "{{ value.split(';')[0] }}",
        "{% if value_json.power %}{{ value_json.power }}{% endif %}",
    ],
)
def test_anything_more_than_selecting_is_unsupported(template):
    assert template_path(template) == Rejected("unsupported_template", template)


def test_a_missing_word_through_a_plain_template_is_a_missing_value():
    intake = intake_for("ha-discovery")
    readings_of(intake, [esphome_config("house_power", "power", "W", "House Power")])
    readings_of(intake, [esphome_state("house_power", "None", 5)])  # ESPHome's NaN with publish_nan_as_none
    assert counts_of(intake)["missing_values"] == 1 and counts_of(intake)["samples"] == 1


@pytest.fixture(scope="module")
def assets(tmp_path_factory):
    from tests.device_assets import Series, build_assets

    return build_assets(tmp_path_factory.mktemp("assets"), Series.bundled(rows=600))


def test_through_mosquitto_the_agent_learns_a_retained_esphome_config_refuses_the_retained_state_reads_live_ones(
    mosquitto, assets
):
    """The agent's one subscription at start covers the discovery topics and the ESPHome state topics: the broker's
    retained config (ESPHome retains it) makes the sensor a meter, its retained state (ESPHome's default retain)
    is refused, and live states are its samples, in W."""
    from tests.test_agent_mqtt import publisher, wait_for
    from tests.test_sources_agent import start

    client = publisher(mosquitto.port)
    _, config_topic, config = esphome_config("house_power", "power", "W", "House Power")
    _, temp_topic, temp_config = esphome_config("esp_temperature", "temperature", "°C", "ESP Temperature")
    client.publish(config_topic, config.encode(), qos=1, retain=True).wait_for_publish(10)
    client.publish(temp_topic, temp_config.encode(), qos=1, retain=True).wait_for_publish(10)
    client.publish(f"{NODE}/sensor/house_power/state", b"777.0", qos=1, retain=True).wait_for_publish(10)
    agent = start(mosquitto, assets, ("ha-discovery",))
    counts, rejected = agent.intake.counters["ha-discovery"], agent.intake.rejected["ha-discovery"]
    wait_for(lambda: counts["metadata"] == 1 and rejected["retained"] == 1, "the retained config and state")
    for value in (b"523.0", b"530.0"):
        client.publish(f"{NODE}/sensor/house_power/state", value, qos=1).wait_for_publish(10)
    client.publish(f"{NODE}/sensor/esp_temperature/state", b"21.5", qos=1).wait_for_publish(10)
    wait_for(lambda: counts["samples"] == 2 and rejected["not_power"] == 2, "the live states")
    sources = agent.stop()["sources"]["ha-discovery"]
    # the agent's own discovery configs, published on connect, come back on its subscription: refused, counted
    assert sources["rejected"].pop("own_output") >= 4
    assert sources["rejected"] == {"retained": 1, "not_power": 2}
    assert (sources["metadata"], sources["samples"]) == (1, 2)
