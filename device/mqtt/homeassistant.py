"""Home Assistant MQTT discovery: the agent's sensors appear in HA without any YAML.

Per model: the online RMSE and the inference latency (from the metrics topic). Per meter and model: the predicted
power, from a retained per-meter state topic the agent refreshes with the metrics, so the hot path publishes one
message per prediction and HA still sees every meter. Configs are retained and re-sent when HA announces
``online`` on ``<prefix>/status`` (it forgets non-retained state on restart).
"""

from __future__ import annotations

import hashlib
import re
from importlib.metadata import PackageNotFoundError, version

from device.config import AgentConfig

try:
    __version__ = version("wattcast")
except PackageNotFoundError:  # running from a checkout that was never pip-installed
    __version__ = "0+unknown"

_UNSAFE = re.compile(r"[^a-z0-9_]")


def slug(name: str) -> str:
    """An id Home Assistant accepts (``[a-z0-9_]``), distinct for distinct names: where slugging changed the name
    (``house.main``, ``House``), a short hash of the original is appended, so it cannot meet ``house_main``."""
    safe = _UNSAFE.sub("_", name.lower())
    return safe if safe == name else f"{safe}_{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def _slug(*parts: str) -> str:
    return "_".join(slug(part) for part in parts)


def meter_state_topic(config: AgentConfig, meter: str) -> str:
    return config.topic(f"meters/{meter}/state")


def _device(config: AgentConfig) -> dict:
    return {
        "identifiers": [f"wattcast_{config.agent_id}"],
        "name": f"wattcast {config.agent_id}",
        "manufacturer": "wattcast",
        "model": "edge power forecaster",
        "sw_version": __version__,
    }


def _sensor(config: AgentConfig, object_id: str, name: str, state_topic: str, template: str, **extra) -> tuple:
    unique = _slug("wattcast", config.agent_id, object_id)
    topic = f"{config.ha_prefix}/sensor/{config.agent_id}/{_slug(object_id)}/config"
    payload = {
        "name": name,
        "unique_id": unique,
        "default_entity_id": f"sensor.{unique}",
        "state_topic": state_topic,
        "value_template": template,
        "availability_topic": config.topic("status"),
        "payload_available": "online",
        "payload_not_available": "offline",
        "device": _device(config),
        "origin": {"name": "wattcast", "sw_version": __version__},
        **extra,
    }
    return topic, payload


def model_configs(config: AgentConfig, models: list[str]) -> list[tuple[str, dict]]:
    """Online error and latency sensors, one pair per model."""
    metrics = config.topic("metrics")
    out = []
    for name in models:
        out.append(
            _sensor(
                config,
                f"{name}_rmse",
                f"{name} online RMSE",
                metrics,
                f"{{{{ value_json.models['{name}'].rmse }}}}",
                unit_of_measurement="kW",
                state_class="measurement",
                entity_category="diagnostic",
            )
        )
        out.append(
            _sensor(
                config,
                f"{name}_latency",
                f"{name} inference latency p50",
                metrics,
                f"{{{{ value_json.models['{name}'].latency_us.p50 }}}}",
                unit_of_measurement="µs",
                state_class="measurement",
                entity_category="diagnostic",
            )
        )
    return out


def meter_configs(config: AgentConfig, meter: str, models: list[str]) -> list[tuple[str, dict]]:
    """Predicted power sensors for one meter, one per model. The target time, model and horizon come as
    attributes; without a fresh state for ``ha_expire_after_s`` (a meter that stopped, or was evicted) the sensor
    goes unavailable instead of showing an old forecast forever."""
    state = meter_state_topic(config, meter)
    return [
        _sensor(
            config,
            f"{slug(meter)}_{name}_predicted",
            f"{meter} predicted power ({name})",
            state,
            f"{{{{ value_json['{name}'].predicted_kw }}}}",
            device_class="power",
            unit_of_measurement="kW",
            state_class="measurement",
            json_attributes_topic=state,
            json_attributes_template=f"{{{{ value_json['{name}'] | tojson }}}}",
            expire_after=config.ha_expire_after_s,
        )
        for name in models
    ]


def discovery_configs(config: AgentConfig, models: list[str], meters: list[str]) -> list[tuple[str, dict]]:
    """Every config topic and payload of ``models``: their own sensors and their forecast sensor on each meter. A
    reload publishes these for new and changed models, and an empty retained payload on the topics of dropped
    ones (Home Assistant's way to delete an entity)."""
    return model_configs(config, models) + [c for meter in meters for c in meter_configs(config, meter, models)]
