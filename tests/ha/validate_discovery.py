"""Run under Home Assistant's own Python (``make ha-venv``), not the project's: validates MQTT discovery configs with
HA's own code, as its MQTT integration does on receiving one.

stdin: JSON ``{"prefix": "homeassistant", "configs": [[topic, payload], ...]}``. stdout: JSON ``{"ha_version": ...,
"results": [{"topic", "errors", "dropped", "entity_id"}]}``: ``errors`` what HA refuses (the topic pattern, the
sensor platform's discovery schema, a unit or state class its device class does not allow); ``dropped`` the keys
HA's schema removes as unknown to this version (accepted, ignored).

The steps follow ``homeassistant/components/mqtt/discovery.py`` (topic matcher, abbreviation expansion, origin
schema) and ``homeassistant/components/mqtt/sensor.py`` (``DISCOVERY_SCHEMA``), then the sensor domain's own tables
(``homeassistant/components/sensor/const.py``: ``DEVICE_CLASS_UNITS``, ``DEVICE_CLASS_STATE_CLASSES``).
"""

from __future__ import annotations

import asyncio
import json
import sys
import tempfile
from typing import Any

import voluptuous as vol
from homeassistant.components.mqtt import discovery
from homeassistant.components.mqtt import sensor as mqtt_sensor
from homeassistant.components.mqtt.schemas import MQTT_ORIGIN_INFO_SCHEMA
from homeassistant.components.sensor import const as sensor_const
from homeassistant.const import __version__ as ha_version
from homeassistant.core import HomeAssistant


def _keys(config: dict[str, Any]) -> set[str]:
    return {f"{k}.{sub}" for k, v in config.items() if isinstance(v, dict) for sub in v} | set(config)


def validate(prefix: str, topic: str, payload: dict[str, Any]) -> dict[str, Any]:
    errors: list[str] = []
    trimmed = topic.removeprefix(f"{prefix}/")
    match = discovery.TOPIC_MATCHER.match(trimmed)
    if match is None or match.group("component") != "sensor":
        errors.append(f"not a sensor discovery topic HA matches: {topic}")
    expanded = json.loads(json.dumps(payload))
    discovery._replace_all_abbreviations(expanded)
    if "origin" in expanded:
        try:
            MQTT_ORIGIN_INFO_SCHEMA(expanded["origin"])
        except vol.Invalid as exc:
            errors.append(f"origin: {exc}")
    expanded["platform"] = "mqtt"
    try:
        config = mqtt_sensor.DISCOVERY_SCHEMA(expanded)
    except vol.Invalid as exc:
        return {"topic": topic, "errors": [*errors, f"schema: {exc}"], "dropped": [], "entity_id": None}
    dropped = sorted(_keys(expanded) - _keys(config) - {"platform"})  # platform: set above, as HA does
    device_class = config.get("device_class")
    unit = config.get("unit_of_measurement")
    if device_class is not None:
        allowed = sensor_const.DEVICE_CLASS_UNITS.get(sensor_const.SensorDeviceClass(device_class))
        if allowed is not None and unit not in allowed:
            errors.append(f"unit {unit!r} is not one of {sorted(map(str, allowed))} for device class {device_class}")
        state_classes = sensor_const.DEVICE_CLASS_STATE_CLASSES.get(sensor_const.SensorDeviceClass(device_class))
        state_class = config.get("state_class")
        if state_class is not None and state_classes is not None and state_class not in state_classes:
            errors.append(f"state class {state_class} is not allowed for device class {device_class}")
    object_id = config.get("object_id")
    return {
        "topic": topic,
        "errors": errors,
        "dropped": dropped,
        "entity_id": f"sensor.{object_id}" if object_id else None,
    }


async def validate_all(request: dict[str, Any]) -> list[dict[str, Any]]:
    """Inside HA's event loop with an HA instance, as the integration validates (templates are bound to it)."""
    with tempfile.TemporaryDirectory() as config_dir:
        HomeAssistant(config_dir)
        return [validate(request["prefix"], topic, payload) for topic, payload in request["configs"]]


def main() -> int:
    request = json.load(sys.stdin)
    results = asyncio.run(validate_all(request))
    json.dump({"ha_version": ha_version, "results": results}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
