"""Home Assistant MQTT discovery: the agent's sensors appear in HA without any YAML.

Per model: the online RMSE and the inference latency (from the metrics topic). Per meter and model: the predicted
power, from a per-meter state topic the agent refreshes with the metrics, so the hot path publishes one message per
prediction and HA still sees every meter. Configs are retained and re-sent when HA announces ``online`` on
``<prefix>/status``; forecast states are **not** retained, so a restarted HA never gets back a forecast that has
expired meanwhile (it waits for the next one, at most a metrics interval away).

Rules HA holds discovery to (its ``homeassistant/components/sensor/const.py`` ``DEVICE_CLASS_UNITS`` and
``homeassistant/const.py`` ``UnitOfTime``), kept here: a power sensor in W or kW, a duration in ``ms`` or ``μs``
(U+03BC; ``µs`` U+00B5 is deprecated); ``suggested_display_precision`` so a state is not shown as 17 digits;
``object_id`` beside ``default_entity_id`` (HA before 2025.10 ignores the latter), so the entity ids do not depend on
HA's version nor on the order meters arrive in.

Only the recommended model's entities are enabled by default (:func:`recommended_model`); the others are created
disabled (``enabled_by_default: false``), for the user to enable.

A series model (the next hour in 5-minute steps) gets one sensor per meter whose state is its next step's kW and whose
``forecast`` attribute is the whole series, ``[{datetime, kw, p10, p90}, ...]`` (``datetime``: the step's start, with
its offset), as forecast integrations carry a horizon in HA; it comes from the same per-meter state topic. Only the
recommended series model's sensor is enabled by default (:func:`recommended_series`): the attribute is stored by HA's
recorder at every state change (``docs/home-assistant.md`` measures it and shows how to exclude it).

A forecast made when the meter's newest *measured* minute is more than :data:`MAX_HELD_MINUTES` old (a meter that
went quiet, whose value the resampler holds) is not published to HA: the entity then goes unavailable
``--ha-expire-after-s`` after the last forecast from a measured minute, instead of showing forecasts of a dead meter.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from types import MappingProxyType
from typing import Any

from device.config import AgentConfig
from device.forecasting.forecaster import Prediction
from device.forecasting.series import SeriesForecast, iso_minute
from device.models.entry import ModelEntry
from device.models.kinds import ModelKind
from device.readings import format_minute

try:
    __version__ = version("wattcast")
except PackageNotFoundError:  # running from a checkout that was never pip-installed
    __version__ = "0+unknown"

#: No series models: the default of the functions taking ``series`` (model name: horizon in minutes).
NO_SERIES: Mapping[str, int] = MappingProxyType({})

_UNSAFE = re.compile(r"[^a-z0-9_]")
#: HA's unit of microseconds, U+03BC (``UnitOfTime.MICROSECONDS``), not the micro sign U+00B5.
MICROSECONDS = "\u03bcs"
#: A forecast whose meter has not been measured for longer than this (its minutes held, Tasmota's 300 s
#: TelePeriod being the slowest normal cadence) is not shown in HA.
MAX_HELD_MINUTES = 5
Config = tuple[str, dict[str, Any]]


def slug(name: str) -> str:
    """An id Home Assistant accepts (``[a-z0-9_]``), distinct for distinct names: where slugging changed the name
    (``house.main``, ``House``), a short hash of the original is appended, so it cannot meet ``house_main``."""
    safe = _UNSAFE.sub("_", name.lower())
    return safe if safe == name else f"{safe}_{hashlib.sha256(name.encode()).hexdigest()[:8]}"


def _slug(*parts: str) -> str:
    return "_".join(slug(part) for part in parts)


def meter_state_topic(config: AgentConfig, meter: str) -> str:
    return config.topic(f"meters/{meter}/state")


def recommended_model(entries: Sequence[ModelEntry]) -> str | None:
    """The model whose entities are enabled by default. The recommendation proper is made by the simulator's report
    on a run's numbers, which the agent does not have; the agent takes the manifest's first int8 LSTM (the report's
    usual pick for a Pi-class device), else the first model."""
    points = [entry for entry in entries if entry.window.series is None]
    for entry in points:
        tensor = getattr(entry, "input", None)
        if entry.kind is ModelKind.TFLITE and getattr(tensor, "dtype", "") == "int8" and "lstm" in entry.name:
            return entry.name
    return points[0].name if points else None


def recommended_series(entries: Sequence[ModelEntry]) -> str | None:
    """The series model whose sensors are enabled by default: the manifest's first (the report does not rank series
    models yet)."""
    return next((entry.name for entry in entries if entry.window.series is not None), None)


def series_state(forecast: SeriesForecast) -> dict[str, Any]:
    """A series forecast as the meter's state topic carries it: ``kw`` (the next step, HA's state), ``made_ts`` and
    ``forecast`` (every step's start, median and interval), which become the entity's attributes."""
    rows = zip(forecast.step_bounds(), forecast.column(0.5), forecast.column(0.1), forecast.column(0.9), strict=True)
    steps = [
        {"datetime": iso_minute(start), "kw": round(kw, 3), "p10": round(lo, 3), "p90": round(hi, 3)}
        for (start, _), kw, lo, hi in rows
    ]
    return {"kw": steps[0]["kw"], "made_ts": iso_minute(forecast.minute), "model": forecast.model, "forecast": steps}


def forecast_state(p: Prediction) -> dict[str, Any]:
    """A forecast as the meter's state topic carries it: HA's state and the entity's attributes (``target_ts`` in
    UTC with its offset)."""
    return {
        "predicted_kw": round(p.predicted_kw, 4),
        "target_ts": format_minute(p.target_minute) + "+00:00",
        "model": p.model,
        "horizon_minutes": p.target_minute - p.minute,
    }


def fresh_enough(forecast_minute: int, last_measured_minute: int | None) -> bool:
    """Whether a forecast made at ``forecast_minute`` may be shown: its meter was measured at most
    :data:`MAX_HELD_MINUTES` before."""
    return last_measured_minute is not None and forecast_minute - last_measured_minute <= MAX_HELD_MINUTES


def _device(config: AgentConfig) -> dict[str, Any]:
    return {
        "identifiers": [f"wattcast_{config.agent_id}"],
        "name": f"wattcast {config.agent_id}",
        "manufacturer": "wattcast",
        "model": "edge power forecaster",
        "sw_version": __version__,
    }


def _sensor(config: AgentConfig, object_id: str, name: str, state_topic: str, template: str, **extra: Any) -> Config:
    unique = _slug("wattcast", config.agent_id, object_id)
    topic = f"{config.ha_prefix}/sensor/{config.agent_id}/{_slug(object_id)}/config"
    payload = {
        "name": name,
        "unique_id": unique,
        "object_id": unique,
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


def model_configs(
    config: AgentConfig, models: list[str], recommended: str | None = None, series: Mapping[str, int] = NO_SERIES
) -> list[Config]:
    """Online error and latency sensors, one pair per model (a series model, scored per step, has the latency
    sensor only)."""
    metrics = config.topic("metrics")
    out = []
    for name in models:
        enabled = name == recommended
        if name not in series:
            out.append(
                _sensor(
                    config,
                    f"{name}_rmse",
                    f"{name} online RMSE",
                    metrics,
                    f"{{{{ value_json.models['{name}'].rmse }}}}",
                    device_class="power",
                    unit_of_measurement="kW",
                    suggested_display_precision=3,
                    state_class="measurement",
                    entity_category="diagnostic",
                    icon="mdi:target-variant",
                    enabled_by_default=enabled,
                )
            )
        out.append(
            _sensor(
                config,
                f"{name}_latency",
                f"{name} inference latency p50",
                metrics,
                f"{{{{ value_json.models['{name}'].latency_us.p50 }}}}",
                device_class="duration",
                unit_of_measurement=MICROSECONDS,
                suggested_display_precision=0,
                state_class="measurement",
                entity_category="diagnostic",
                icon="mdi:timer-outline",
                enabled_by_default=enabled,
            )
        )
    return out


def horizon_label(minutes: int) -> str:
    """How Home Assistant names a series sensor's horizon: "next hour", "next day", or "next N minutes"."""
    return {60: "next hour", 1440: "next day"}.get(minutes, f"next {minutes} minutes")


def series_config(config: AgentConfig, meter: str, name: str, horizon_minutes: int, enabled: bool) -> Config:
    """A series model's sensor on one meter: the next step's kW, the whole series in its ``forecast`` attribute."""
    state = meter_state_topic(config, meter)
    return _sensor(
        config,
        f"{slug(meter)}_{name}_series",
        f"{meter} {horizon_label(horizon_minutes)} ({name})",
        state,
        f"{{{{ value_json['{name}'].kw }}}}",
        device_class="power",
        unit_of_measurement="kW",
        suggested_display_precision=3,
        state_class="measurement",
        icon="mdi:chart-bell-curve-cumulative",
        enabled_by_default=enabled,
        json_attributes_topic=state,
        json_attributes_template=f"{{{{ value_json['{name}'] | tojson }}}}",
        expire_after=config.ha_expire_after_s,
    )


def meter_configs(
    config: AgentConfig,
    meter: str,
    models: list[str],
    recommended: str | None = None,
    series: Mapping[str, int] = NO_SERIES,
    recommended_series: str | None = None,
) -> list[Config]:
    """Predicted power sensors for one meter, one per model. The target time, model and horizon come as
    attributes; without a fresh state for ``ha_expire_after_s`` (a meter that stopped, or was evicted) the sensor
    goes unavailable instead of showing an old forecast forever. Models in ``series`` (name: horizon in minutes)
    get their series sensor (:func:`series_config`) instead."""
    state = meter_state_topic(config, meter)
    return [
        series_config(config, meter, name, series[name], name == recommended_series)
        for name in models
        if name in series
    ] + [
        _sensor(
            config,
            f"{slug(meter)}_{name}_predicted",
            f"{meter} predicted power ({name})",
            state,
            f"{{{{ value_json['{name}'].predicted_kw }}}}",
            device_class="power",
            unit_of_measurement="kW",
            suggested_display_precision=3,
            state_class="measurement",
            icon="mdi:crystal-ball",
            enabled_by_default=name == recommended,
            json_attributes_topic=state,
            json_attributes_template=f"{{{{ value_json['{name}'] | tojson }}}}",
            expire_after=config.ha_expire_after_s,
        )
        for name in models
        if name not in series
    ]


def discovery_configs(
    config: AgentConfig,
    models: list[str],
    meters: list[str],
    recommended: str | None = None,
    series: Mapping[str, int] = NO_SERIES,
    recommended_series: str | None = None,
) -> list[Config]:
    """Every config topic and payload of ``models``: their own sensors and their forecast sensor on each meter. A
    reload publishes these for new and changed models, and an empty retained payload on the topics of dropped
    ones (Home Assistant's way to delete an entity)."""
    return model_configs(config, models, recommended, series) + [
        c for meter in meters for c in meter_configs(config, meter, models, recommended, series, recommended_series)
    ]
