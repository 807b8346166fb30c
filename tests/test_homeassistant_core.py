"""Home Assistant's own code judges what the agent publishes: every discovery config through HA's MQTT sensor
discovery schema and its device-class tables (a probe run under HA's Python), and end to end a real HA Core,
started by the test on the test's Mosquitto, shows the agent's forecasts with the promised entity ids, units and
classes, lets a dead meter's forecast go unavailable in time, and logs nothing about them.

HA 2025.x needs Python 3.13 and lives in its own venv (``make ha-venv``); without it these tests skip with the
reason, and fail under CI.
"""

from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import numpy as np
import pytest

from device.config import AgentConfig
from device.contract import MEASUREMENTS
from device.models.manifest import load_manifest
from device.mqtt import homeassistant
from device.mqtt.settings import BrokerSettings
from device.sources.reader import Source
from device.wire import encode_reading, timestamps
from tests.collector import Collector
from tests.device_assets import Series, build_assets
from tests.ha_core import HA_VERSION, HomeAssistantCore, ha_python, run_probe
from tests.test_agent_mqtt import publisher, start_agent

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[1]
CONFIG = AgentConfig(agent_id="pi01", ha_expire_after_s=300)
#: the shipped models (firmware_assets/), two meters, one of them an id HA's slugging changes
METERS = ["m1", "house.main"]


def shipped_models() -> tuple[list[str], str | None]:
    entries = list(load_manifest(REPO / "firmware_assets").models.values())
    return [e.name for e in entries], homeassistant.recommended_model(entries)


def validated(configs: list[tuple[str, dict]]) -> dict:
    return run_probe("validate_discovery.py", {"prefix": CONFIG.ha_prefix, "configs": configs})


@pytest.mark.slow
def test_every_discovery_config_passes_home_assistants_own_schema_and_device_class_tables():
    models, recommended = shipped_models()
    configs = homeassistant.discovery_configs(CONFIG, models, METERS, recommended)
    answer = validated(configs)
    assert answer["ha_version"] == HA_VERSION
    assert len(answer["results"]) == len(configs) == 2 * len(models) + len(METERS) * len(models)
    assert {r["topic"]: r["errors"] for r in answer["results"] if r["errors"]} == {}
    # the one key HA before 2025.10 does not know; object_id gives it the same entity id
    assert {key for r in answer["results"] for key in r["dropped"]} == {"default_entity_id"}
    for (_, payload), result in zip(configs, answer["results"]):
        assert result["entity_id"] == payload["default_entity_id"]


@pytest.mark.slow
def test_every_series_sensor_config_passes_home_assistants_own_schema_too():
    entries = list(load_manifest(REPO / "firmware_assets" / "series").models.values())
    horizons = {e.name: e.window.series.steps * e.window.series.step_minutes for e in entries if e.window.series}
    assert set(horizons) == {"series_next_hour", "series_next_day"}
    configs = homeassistant.discovery_configs(
        CONFIG, list(horizons), METERS, None, horizons, homeassistant.recommended_series(entries)
    )
    answer = validated(configs)
    assert len(answer["results"]) == len(configs) and configs
    assert {r["topic"]: r["errors"] for r in answer["results"] if r["errors"]} == {}
    series = [payload for _, payload in configs if payload["unique_id"].endswith("_series")]
    assert len(series) == len(METERS) * len(horizons)
    assert all(p["json_attributes_topic"] and p["device_class"] == "power" for p in series)


@pytest.mark.slow
def test_the_probe_reports_what_home_assistant_refuses():
    """The probe is not a rubber stamp: the micro sign (U+00B5) for a duration, a power in kWh, a topic with a dot
    and a missing state topic are each refused by HA's own code."""
    ((topic, good),) = homeassistant.meter_configs(CONFIG, "m1", ["linreg"])
    latency = next(c for c in homeassistant.model_configs(CONFIG, ["linreg"]) if c[1]["device_class"] == "duration")
    bad = [
        (latency[0], latency[1] | {"unit_of_measurement": "\u00b5s"}),
        (topic, good | {"unit_of_measurement": "kWh"}),
        (topic.replace("/m1_linreg", "/m1.linreg"), good),
        (topic, {k: v for k, v in good.items() if k != "state_topic"}),
    ]
    results = validated(bad)["results"]
    assert [bool(r["errors"]) for r in results] == [True] * len(bad), results


#: short, so the test waits seconds for the expiry HA applies (the default is 300 s)
EXPIRE_S = 6
METRICS_S = 0.5
TIMEOUT_S = 30.0


def wait_until(predicate, what: str, timeout_s: float = TIMEOUT_S, poll_s: float = 0.25):
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(poll_s)


def send_minutes(port: int, meter: str, series: Series, last_minute: int) -> None:
    """``series`` as wattcast readings, restamped to end at ``last_minute`` (so the forecasts are of now)."""
    client = publisher(port)
    info = None
    minutes = np.arange(last_minute - len(series) + 1, last_minute + 1)
    for ts, raw in zip(timestamps(minutes), series.raw):
        values = {k: (None if math.isnan(v) else v) for k, v in zip(MEASUREMENTS, raw)}
        info = client.publish(f"meter/{meter}/reading", encode_reading(str(ts), values), qos=1)
    info.wait_for_publish(TIMEOUT_S)
    client.loop_stop()
    client.disconnect()


@pytest.mark.slow
def test_a_real_home_assistant_shows_the_forecasts_and_a_dead_meters_forecast_goes_unavailable_for_good(
    mosquitto, tmp_path
):
    ha_python()  # before building anything: a missing HA is a skip (a failure under CI)
    ha = HomeAssistantCore(tmp_path / "ha", mosquitto.port)
    assets = build_assets(tmp_path / "assets", Series.bundled(rows=600))
    states = Collector(BrokerSettings(mosquitto.url), ["devices/pi01/meters/+/state", "devices/pi01/prediction"])
    ha.start()
    agent = None
    try:
        agent = start_agent(
            mosquitto,
            assets,
            tmp_path,
            models=("linreg", "persistence"),
            metrics_interval_s=METRICS_S,
            ha_expire_after_s=EXPIRE_S,
        )
        names = [m.name for m in agent.forecaster.models]
        recommended = homeassistant.recommended_model([m.entry for m in agent.forecaster.models])
        configs = [p for _, p in homeassistant.discovery_configs(agent.config, names, ["house.main"], recommended)]
        enabled = [p for p in configs if p["enabled_by_default"]]
        forecast = next(p for p in enabled if p["state_topic"].endswith("/state"))

        # Half an hour of history up to the previous minute: the meter is new, the agent announces its sensors
        # (HA subscribes to their state topic on receiving the config); then the current minute, whose forecast
        # state HA shows (states are not retained, so one published before HA subscribed is not seen).
        series = Series.bundled(start=600, rows=31)
        now_minute = int(time.time() // 60)
        send_minutes(mosquitto.port, "house.main", Series(series.minutes[:30], series.raw[:30]), now_minute - 1)
        wait_until(lambda: forecast["default_entity_id"] in ha.states(), "HA to create the forecast sensor")
        sent_at = time.monotonic()  # HA receives the forecast state after this
        send_minutes(mosquitto.port, "house.main", Series(series.minutes[30:], series.raw[30:]), now_minute)
        state_topic = homeassistant.meter_state_topic(agent.config, "house.main")
        wait_until(lambda: states.payloads(state_topic), "the agent's forecast state")

        def shown() -> dict | None:
            now = ha.states()
            entity = now.get(forecast["default_entity_id"])
            published = json.loads(states.payloads(state_topic)[-1])[recommended]
            return now if entity and entity["attributes"].get("target_ts") == published["target_ts"] else None

        now = wait_until(shown, f"HA to show {forecast['default_entity_id']}")
        published = json.loads(states.payloads(state_topic)[-1])[recommended]
        for payload in enabled:
            entity = now[payload["default_entity_id"]]
            assert entity["attributes"]["unit_of_measurement"] == payload["unit_of_measurement"]
            assert entity["attributes"]["device_class"] == payload["device_class"]
            assert entity["attributes"]["icon"] == payload["icon"]
            assert entity["state"] not in ("unavailable", "unknown"), entity
            float(entity["state"])
        for payload in configs:
            if not payload["enabled_by_default"]:
                assert payload["default_entity_id"] not in now  # created disabled: no state
        entity = now[forecast["default_entity_id"]]
        assert float(entity["state"]) == pytest.approx(published["predicted_kw"], abs=1e-9)
        assert {k: entity["attributes"][k] for k in published} == published
        made = [json.loads(p) for p in states.payloads("devices/pi01/prediction")]
        prediction = next(
            p for p in made if p["model"] == recommended and p["target_ts"] + "+00:00" == published["target_ts"]
        )
        assert float(entity["state"]) == pytest.approx(prediction["predicted_kw"], abs=5e-5)  # rounded to 0.1 W

        # The meter is dead: no new forecast state, HA expires the entity after EXPIRE_S (since the last state,
        # itself at most a metrics interval after the last reading).
        wait_until(
            lambda: ha.states()[forecast["default_entity_id"]]["state"] == "unavailable",
            "the forecast to go unavailable",
            timeout_s=EXPIRE_S + 15,
            poll_s=0.1,
        )
        expired_after = time.monotonic() - sent_at
        log.info(
            "forecast unavailable %.1f s after the meter's last reading (expire_after %d s)", expired_after, EXPIRE_S
        )
        assert EXPIRE_S <= expired_after <= EXPIRE_S + METRICS_S + 3.0, expired_after
        rmse = next(p for p in enabled if p["device_class"] == "power" and p is not forecast)
        assert ha.states()[rmse["default_entity_id"]]["state"] != "unavailable"  # the agent itself is alive

        # HA restarts (the agent still running): the expired forecast does not come back, neither from the broker
        # (states are not retained) nor from HA's restored state, while the agent's other sensors do.
        ha.restart()
        wait_until(
            lambda: ha.states().get(rmse["default_entity_id"], {}).get("state") not in (None, "unavailable", "unknown"),
            "the agent's sensors after HA's restart",
        )
        time.sleep(2 * METRICS_S)  # a retained forecast state would have arrived by now
        assert ha.states()[forecast["default_entity_id"]]["state"] in ("unavailable", "unknown")

        agent.stop()
        agent = None
        wait_until(
            lambda: ha.states()[rmse["default_entity_id"]]["state"] == "unavailable", "the agent's offline status"
        )
        assert forecast["default_entity_id"] in ha.log_text()  # HA logs about our entities, at INFO
        problems = ha.problems("wattcast", "pi01", "house_main", "house.main", "homeassistant.components.mqtt")
        assert problems == []
    finally:
        if agent is not None:
            agent.stop()
        ha.stop()
        states.close()
    registry = ha.entity_registry()
    for payload in configs:
        entry = registry[payload["default_entity_id"]]
        assert entry["unique_id"] == payload["unique_id"]
        assert entry["disabled_by"] == (None if payload["enabled_by_default"] else "integration")
        assert (
            entry["original_icon"] == payload["icon"] and entry["unit_of_measurement"] == payload["unit_of_measurement"]
        )
        if payload["enabled_by_default"]:
            precision = payload["suggested_display_precision"]
            assert entry["options"]["sensor"]["suggested_display_precision"] == precision


@pytest.mark.slow
def test_the_agent_never_takes_its_own_entities_back_from_home_assistants_statestream(mosquitto, tmp_path):
    ha_python()
    statestream = "mqtt_statestream:\n  base_topic: homeassistant\n  publish_attributes: true\n"
    statestream += "  include:\n    domains: [sensor]\n"
    ha = HomeAssistantCore(tmp_path / "ha", mosquitto.port, extra_config=statestream)
    assets = build_assets(tmp_path / "assets", Series.bundled(rows=600))
    mirrored = Collector(BrokerSettings(mosquitto.url), ["homeassistant/sensor/+/state"])
    ha.start()
    agent = None
    try:
        agent = start_agent(
            mosquitto,
            assets,
            tmp_path,
            models=("linreg",),
            metrics_interval_s=METRICS_S,
            source=(Source.parse("wattcast"), Source.parse("statestream:W")),
        )
        own = "wattcast_pi01_linreg_rmse"
        wait_until(lambda: mirrored.payloads(f"homeassistant/sensor/{own}/state"), f"HA to mirror sensor.{own}")
        series = Series.bundled(start=600, rows=30)
        send_minutes(mosquitto.port, "house.main", series, int(time.time() // 60))
        wait_until(lambda: agent.intake.snapshot()["statestream"]["messages"] >= 3, "the agent to receive HA's states")
        time.sleep(2 * METRICS_S)
        taken = agent.intake.snapshot()["statestream"]
    finally:
        if agent is not None:
            agent.stop()
        ha.stop()
        mirrored.close()
    assert taken["samples"] == 0, (taken, sorted({topic for topic, *_ in mirrored.messages}))
