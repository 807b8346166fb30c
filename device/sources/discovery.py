"""Which sensors are power meters, the ecosystem's way: Home Assistant's MQTT discovery configs.

ESPHome, Zigbee2MQTT and many others announce every sensor on ``<prefix>/sensor/[<node_id>/]<object_id>/config``
(retained), saying what it is (``device_class``), in what unit (``unit_of_measurement``), where its state is
published (``state_topic``) and how to read it (``value_template``), in full or abbreviated keys (``dev_cla``,
``unit_of_meas``, ``stat_t``, ``val_tpl``, ``uniq_id``) with an optional ``~`` base topic, as Home Assistant's own
``components/mqtt/discovery.py`` expands them. A sensor is a meter only when its device class is ``power`` and its
unit W or kW; its state is read with the subset of templates that only select a value (``value_json`` paths,
``value``, ``| float``): anything else is ``unsupported_template``, never evaluated. The agent's own configs
(``unique_id`` ``wattcast_...``) are ``own_output``; an empty config removes the sensor.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from device.readings import METER_ID, Rejected

log = logging.getLogger("wattcast.sources")

#: The discovery keys read here, abbreviated as Home Assistant's components/mqtt/abbreviations.py spells them.
ABBREVIATIONS = {
    "stat_t": "state_topic",
    "unit_of_meas": "unit_of_measurement",
    "dev_cla": "device_class",
    "val_tpl": "value_template",
    "uniq_id": "unique_id",
}
TOPIC_BASE = "~"
POWER_UNITS = ("W", "kW")
#: unique_id prefix of the agent's own discovery configs (device/mqtt/homeassistant.py)
OWN_UNIQUE_ID = "wattcast_"

#: One step of a ``value_json`` path: ``.name``, ``['key']``, ``["key"]`` or ``[0]`` (the key in its group).
_SEGMENT = r"""\.([A-Za-z_][A-Za-z0-9_]*)|\[\s*'([^'\\]*)'\s*\]|\[\s*"([^"\\]*)"\s*\]|\[\s*(\d+)\s*\]"""
_ANY_SEGMENT = r"""\.[A-Za-z_][A-Za-z0-9_]*|\[\s*'[^'\\]*'\s*\]|\[\s*"[^"\\]*"\s*\]|\[\s*\d+\s*\]"""
#: The whole subset: ``{{ value }}`` or ``{{ value_json<path> }}``, each optionally ``| float``.
_TEMPLATE = re.compile(r"\{\{\s*(?:(value)|value_json((?:" + _ANY_SEGMENT + r")+))\s*(?:\|\s*float\s*)?\}\}")


def template_path(template: str | None) -> tuple[str, ...] | Rejected:
    """The keys a value template selects: ``()`` for the whole payload (no template, ``{{ value }}``,
    ``{{ value | float }}``), ``("power",)`` for ``{{ value_json.power }}`` or ``{{ value_json['power'] }}``,
    ``("a", "0")`` for ``{{ value_json.a[0] }}``; a :class:`Rejected` ``unsupported_template`` for anything else
    (filters, arithmetic, conditionals: never evaluated)."""
    if template is None or template.strip() == "":
        return ()
    match = _TEMPLATE.fullmatch(template.strip())
    if match is None:
        return Rejected("unsupported_template", template[:120])
    if match.group(1):
        return ()
    return tuple(next(g for g in m.groups() if g is not None) for m in re.finditer(_SEGMENT, match.group(2)))


def select(payload: str, path: tuple[str, ...]) -> object:
    """The value ``path`` selects in ``payload`` (the payload itself for ``()``); None where the key holds
    ``null`` (a missing value), a :class:`Rejected` where the payload is not JSON or the key is absent."""
    if not path:
        return payload
    try:
        value: Any = json.loads(payload)
    except (json.JSONDecodeError, RecursionError):
        return Rejected("not_json", payload[:80])
    for key in path:
        if isinstance(value, dict) and key in value:
            value = value[key]
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return Rejected("no_power", f"no {'.'.join(path)} in {payload[:60]}")
    return value


@dataclass(frozen=True)
class Sensor:
    """One discovered sensor: its meter id, where its state comes, and, for a power sensor, its unit and the path
    its template selects (``unsupported``: the template outside the subset, kept so its states say why)."""

    meter: str
    state_topic: str
    power: bool
    unit: str = ""
    path: tuple[str, ...] = ()
    unsupported: str = ""


def expand(config: dict[str, Any]) -> dict[str, Any]:
    """The config with the abbreviated keys read here written in full and a ``~`` base put into its topics
    (Home Assistant's ``_replace_all_abbreviations`` then ``_replace_topic_base``)."""
    full = dict(config)
    for short, long in ABBREVIATIONS.items():
        if short in full:
            full[long] = full.pop(short)
    base = full.pop(TOPIC_BASE, None)
    if isinstance(base, str):
        for key, value in full.items():
            if isinstance(value, str) and value and key.endswith("topic"):
                if value[0] == TOPIC_BASE:
                    value = base + value[1:]
                if value[-1] == TOPIC_BASE:
                    value = value[:-1] + base
                full[key] = value
    return full


class DiscoveredSensors:
    """The sensors the discovery configs declared, by config topic and by state topic (at most ``max_sensors``,
    the oldest first out)."""

    def __init__(self, max_sensors: int = 10_000) -> None:
        self._max = max_sensors
        self._by_config: dict[str, Sensor] = {}
        self._by_state: dict[str, dict[str, Sensor]] = {}

    def learn(
        self, levels: list[str], config_topic: str, payload: bytes, subscribed: Callable[[str], bool]
    ) -> tuple[str, Sensor | Rejected | None]:
        """Take one config (``levels``: the topic's ``[<node_id>, ]<object_id>``, which make the meter id
        ``<node_id>.<object_id>``, unique and stable across renames): the sensor it declares, why it is no meter
        (``not_power``, ``unsupported_template``, ``own_output``), or None when an empty payload removed it. A new
        power sensor is logged, with a warning if ``subscribed`` says its state topic is not read."""
        meter = ".".join(levels)
        if not METER_ID.fullmatch(meter):
            return config_topic, Rejected("bad_meter_id", f"{meter[:64]!r} from {config_topic[:100]}")
        before = self._forget(config_topic)
        outcome = self._learn(meter, config_topic, payload)
        if isinstance(outcome, Sensor) and outcome != before:
            log.info("discovered power sensor %s: state on %s in %s", meter, outcome.state_topic, outcome.unit)
            if not subscribed(outcome.state_topic):
                log.warning(
                    "power sensor %s publishes on %s, which the ha-discovery source does not subscribe to: declare "
                    "its topic (a filter covering it) in a [[source]] table",
                    meter,
                    outcome.state_topic,
                )
        elif outcome is None and before is not None and before.power:
            log.info("power sensor %s removed by its empty discovery config", meter)
        return meter, outcome

    def _learn(self, meter: str, config_topic: str, payload: bytes) -> Sensor | Rejected | None:
        try:
            text = payload.decode("utf-8").strip()
        except UnicodeDecodeError:
            return Rejected("not_utf8")
        if not text:
            return None
        try:
            body = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            return Rejected("not_json", text[:80])
        if not isinstance(body, dict):
            return Rejected("not_an_object", text[:80])
        config = expand(body)
        if str(config.get("unique_id", "")).startswith(OWN_UNIQUE_ID):
            return Rejected("own_output", f"{config['unique_id'][:64]} is a wattcast entity, never a meter")
        state_topic = config.get("state_topic")
        if not isinstance(state_topic, str) or not state_topic or {"+", "#"} & set(state_topic.split("/")):
            return Rejected("no_power", f"no state_topic in the config of {meter}")
        device_class, unit = config.get("device_class"), config.get("unit_of_measurement")
        if device_class != "power" or unit not in POWER_UNITS:
            self._keep(config_topic, Sensor(meter, state_topic, power=False))
            return Rejected("not_power", f"device_class {device_class!r}, unit_of_measurement {unit!r}"[:80])
        template = config.get("value_template")
        path = template_path(template if isinstance(template, str) else None)
        if isinstance(path, Rejected):
            self._keep(config_topic, Sensor(meter, state_topic, power=True, unit=str(unit), unsupported=path.detail))
            return Rejected(path.reason, f"power sensor {meter} on {state_topic}: {path.detail}")
        sensor = Sensor(meter, state_topic, power=True, unit=str(unit), path=path)
        self._keep(config_topic, sensor)
        return sensor

    def on(self, state_topic: str) -> list[Sensor]:
        """The sensors whose state is published on ``state_topic`` (several share one in Zigbee2MQTT)."""
        return list(self._by_state.get(state_topic, {}).values())

    def _keep(self, config_topic: str, sensor: Sensor) -> None:
        if len(self._by_config) >= self._max:
            self._forget(next(iter(self._by_config)))
        self._by_config[config_topic] = sensor
        self._by_state.setdefault(sensor.state_topic, {})[config_topic] = sensor

    def _forget(self, config_topic: str) -> Sensor | None:
        sensor = self._by_config.pop(config_topic, None)
        if sensor is None:
            return None
        on_topic = self._by_state.get(sensor.state_topic, {})
        on_topic.pop(config_topic, None)
        if not on_topic:
            self._by_state.pop(sensor.state_topic, None)
        return sensor
