"""What each home-meter project publishes, decoded into one raw power value (and its timestamp, if any).

The agent's own format (``wattcast``: every measurement of a whole minute, device/wire.py) is a profile like the
others; its decoder's value is the minute's :class:`~device.wire.Measurements` instead of one power sample.

One decoder per project, each reading exactly the payload its project documents (cited in tests/test_sources_*.py).
A decoder returns ``(value, ts)`` with the value still in the project's unit and shape (a number, a numeric string,
a list of phases, a :class:`Net` of drawn and returned power, ``"unavailable"``) or a
:class:`~device.readings.Rejected` with the reason; turning the value into kW, the timestamp into UTC and the topic
into a meter id is the same for every project (device/sources/reader.py).

Decoders that need history (Shelly Gen2 sends only what changed; Shelly Gen1 sends each phase on its own topic)
keep it in the per-meter ``state`` dict they are given.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from device.readings import Rejected
from device.wire import DEFAULT_PREFIX, Measurements

Raw = tuple[object, object]  # (power value as sent, timestamp as sent or None)
#: (the topic's ``+`` levels after the meter id's, payload, this meter's decoder state, the declared field) -> raw
Decoder = Callable[[list[str], bytes, dict[str, Any], str], "Raw | Rejected | Learnt"]


@dataclass(frozen=True)
class Learnt:
    """A message that told what a meter is (Home Assistant's ``unit_of_measurement``, ``device_class``), no power:
    kept in the decoder's state and counted as ``metadata``."""

    what: str


@dataclass(frozen=True)
class InUnit:
    """A value in the unit its sender said (``W``, ``kW``), which wins over the source's declared one; ``""``: not
    said (the declared unit, or ``no_unit``)."""

    value: object
    unit: str


@dataclass(frozen=True)
class Profile:
    """A project's MQTT conventions: where it publishes, where the meter id is, what unit, how to decode."""

    name: str
    topic: str  # default subscription; its first ``+`` level is the meter id
    unit: str | None  # "W" or "kW"; None where the payload does not say (declared, or learnt: see ``metadata``)
    decode: Decoder
    default_meter: str = ""  # for topics without a ``+`` (one meter per broker, e.g. a DSMR reader)
    #: One message is one whole minute of every measurement (the wattcast format), not a power sample to resample.
    whole_minutes: bool = False
    #: What becomes of a device's several power channels (:class:`Channels`) unless its source says: ``sum`` (one
    #: meter: the phases of one supply) or ``apart`` (a meter per channel, ``<id>.<channel>``).
    channels: str = "sum"
    #: Device ids (their prefix, the model's default id) whose channels are the phases of one supply, always summed.
    phase_devices: tuple[str, ...] = ()
    #: > 0: the project reports on change (silent while the power is steady), so a value stands for real minutes this
    #: long after it (the source's ``hold_minutes`` overrides); 0: it reports periodically, a missed period is filled.
    hold_minutes: int = 0
    #: Topic leaves that describe a meter rather than measure it, learnt even when retained (statestream's attributes)
    metadata: tuple[str, ...] = ()
    #: Meter ids that are wattcast's own entities mirrored back (Home Assistant ``sensor.wattcast_...``): refused.
    own_entities: str = ""
    #: More default subscriptions beside ``topic`` (emonhub's JSON format beside its per-input topics)
    also: tuple[str, ...] = ()
    #: The project's own topics under its subscription that are no device's state, as a regex of the ``+``/``#``
    #: level (Zigbee2MQTT's ``bridge/...``, ``<name>/set``): counted as ``not_a_reading``, never a meter; its first
    #: group that matched names the device in the log.
    not_readings: str = ""
    #: Home Assistant discovery config filters (``<prefix>/sensor/+/config``, ``.../+/+/config``), always subscribed:
    #: only the state topics their power sensors declare are read, each in its own unit and template
    #: (device/sources/discovery.py); ``topic`` and ``also`` are then where those state topics are, which a
    #: source's declared topic replaces.
    discovery: tuple[str, ...] = ()


@dataclass(frozen=True)
class Net:
    """Power drawn from the grid and power returned to it, each as sent: a meter behind solar panels reports them
    apart, and the house's net power is their difference (negative while exporting)."""

    delivered: object
    returned: object


@dataclass(frozen=True)
class Channels:
    """A device's power per channel, as sent (channel name -> value): one meter per channel, or their sum, as its
    source says. ``changed`` are the channels this message measured (a sample each when kept apart; the others hold
    their own earlier values); a channel named ``""`` is the device's own meter (Shelly Gen2's 3-phase ``em:0``)."""

    values: dict[str, object]
    changed: tuple[str, ...]


def _text(payload: bytes) -> str | Rejected:
    try:
        return payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        return Rejected("not_utf8")


def _object(payload: bytes) -> dict[str, Any] | Rejected:
    text = _text(payload)
    if isinstance(text, Rejected):
        return text
    try:
        body = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return Rejected("not_json", text[:80])
    return body if isinstance(body, dict) else Rejected("not_an_object", text[:80])


#: What :func:`lookup` returns where a key is absent: unlike a JSON ``null`` there (a missing value, NaN), an absent
#: power is not a sample at all (``no_power``).
ABSENT = object()


def lookup(body: dict[str, Any], path: str) -> object:
    """``body["a"]["b"]`` for ``a.b`` (keys may contain ``:``, as Shelly's ``em:0``; a number picks a list's entry,
    ``ENERGY.Power.1`` a Tasmota array's second channel); :data:`ABSENT` where absent,
    None where the key is there with ``null`` (Zigbee2MQTT's ``"power": null``, Tasmota's ``"Power": null``)."""
    value: object = body
    for key in path.split("."):
        if isinstance(value, list) and key.isdigit() and int(key) < len(value):  # Tasmota's ``ENERGY.Power.1``
            value = value[int(key)]
        elif isinstance(value, dict) and key in value:
            value = value[key]
        else:
            return ABSENT
    return value


def plain(levels: list[str], payload: bytes, state: dict[str, Any], field: str) -> Raw | Rejected:
    """A bare number (or state string) as the whole payload: ESPHome, emonhub, HA statestream, DSMR-reader's split
    topic telegram."""
    text = _text(payload)
    return text if isinstance(text, Rejected) else (text, None)


def esphome(levels: list[str], payload: bytes, state: dict[str, Any], field: str) -> Raw | Rejected:
    """``<node>/sensor/<object_id>/state``: a bare number; the sensor is the source's ``field`` (default ``power``),
    in the topic unless the topic declares a ``+`` there, where another sensor (a temperature) is ``not_power``."""
    sensor = field or "power"
    if levels and levels[0] != sensor:
        return Rejected("not_power", f"sensor {levels[0][:40]} (the source reads {sensor}: declare field)")
    return plain(levels, payload, state, field)


#: emonhub input names that are powers (W): emonTx3/emonPi ``power1``..., emonTx4/emonPi2 ``P1``..``P6``.
_EMON_POWER = re.compile(r"power\d+|P\d+")


def emonhub(levels: list[str], payload: bytes, state: dict[str, Any], field: str) -> Raw | Rejected:
    """emonhub's EmonHubMqttInterfacer, both formats: nodevar ``emon/<node>/<input>`` with a bare number, and
    JSON ``emon/<node>`` with ``{"P1": 100, ..., "time": <Unix s>, "rssi": -40}``. Each power input (``power1``,
    ``P1``..``P6``: :data:`_EMON_POWER`) is a channel; other inputs (``E1``, ``V1``, ``T1``, ``MSG``) are
    ``not_power``; ``field`` picks one input as the node's power."""
    if levels:  # nodevar: one input per message
        name = levels[0]
        if (field and name != field) or (not field and not _EMON_POWER.fullmatch(name)):
            return Rejected("not_power", f"input {name[:40]}")
        text = _text(payload)
        if isinstance(text, Rejected):
            return text
        return (text, None) if field else (Channels({name: text}, (name,)), None)
    body = _object(payload)
    if isinstance(body, Rejected):
        return body
    if field:
        value = lookup(body, field)
        return Rejected("no_power", str(list(body))[:80]) if value is ABSENT else (value, body.get("time"))
    powers = {k: v for k, v in body.items() if _EMON_POWER.fullmatch(k)}
    if not powers:
        return Rejected("no_power", str(list(body))[:80])
    return Channels(powers, tuple(powers)), body.get("time")


#: Home Assistant units of power (its UnitOfPower W and kW) and the device class of a power sensor.
_HA_POWER_UNITS = ("W", "kW")
_HA_ATTRIBUTES = ("unit_of_measurement", "device_class")


def statestream(levels: list[str], payload: bytes, state: dict[str, Any], field: str) -> Raw | Rejected | Learnt:
    """Home Assistant's mqtt_statestream: ``<base>/sensor/<object_id>/state`` the raw state string, and with
    ``publish_attributes: true`` each attribute JSON-encoded on its own topic (``.../unit_of_measurement`` ``"W"``,
    ``.../device_class`` ``"power"``). A sensor whose device class is not ``power`` or whose unit is not W/kW (a
    temperature, a battery %, an energy kWh) is ``not_power``; a power sensor's state is in its own unit."""
    leaf = levels[0] if levels else "state"
    text = _text(payload)
    if isinstance(text, Rejected):
        return text
    if leaf in _HA_ATTRIBUTES:
        try:
            said = json.loads(text)
        except (json.JSONDecodeError, RecursionError):
            said = text
        state[leaf] = said if isinstance(said, str) else None  # null: the attribute was removed
        return Learnt(f"{leaf} {said!r}"[:80])
    if leaf != "state":
        return Rejected("not_power", f"attribute {leaf[:40]}")
    device_class, unit = state.get("device_class"), state.get("unit_of_measurement")
    if device_class is not None and device_class != "power":
        return Rejected("not_power", f"device_class {device_class[:40]}")
    if unit is not None and unit not in _HA_POWER_UNITS:
        return Rejected("not_power", f"unit_of_measurement {unit[:40]}")
    return InUnit(text, unit or ""), None


def wattcast(levels: list[str], payload: bytes, state: dict[str, Any], field: str) -> Raw | Rejected:
    """``meter/<meter_id>/reading``: ``{"ts": "2007-04-22T00:00:00", "gap": 0.504, ..., "sm3": 0.0}``, a whole minute
    of every measurement; the timestamp is required (a reading is its minute)."""
    body = _object(payload)
    if isinstance(body, Rejected):
        return body
    if body.get("ts") is None:
        return Rejected("bad_ts", "no ts")
    return Measurements(body), body["ts"]


def tasmota(levels: list[str], payload: bytes, state: dict[str, Any], field: str) -> Raw | Rejected:
    """``tele/<topic>/SENSOR``: ``{"Time": "2026-12-01T14:34:00", "ENERGY": {"Power": 450, ...}}``, ``Power`` an
    array with one entry per channel on multi-channel devices (:class:`Channels` ``0``, ``1``, ...); ``Time`` is
    local wall clock without zone."""
    body = _object(payload)
    if isinstance(body, Rejected):
        return body
    value = lookup(body, field or "ENERGY.Power")
    if value is ABSENT:
        return Rejected("no_power", str(list(body))[:80])
    if isinstance(value, list):  # one entry per channel: summed (3 phases) or apart, as the source says
        value = Channels({str(i): v for i, v in enumerate(value)}, tuple(str(i) for i in range(len(value))))
    return value, body.get("Time")


def zigbee2mqtt(levels: list[str], payload: bytes, state: dict[str, Any], field: str) -> Raw | Rejected:
    """``zigbee2mqtt/<friendly_name>``: the device's whole state as JSON, power in ``power`` (W), no time."""
    body = _object(payload)
    if isinstance(body, Rejected):
        return body
    value = lookup(body, field or "power")
    return Rejected("no_power", str(list(body))[:80]) if value is ABSENT else (value, None)


#: Gen1 topic kinds with a ``<i>/power``: energy meters (EM, 3EM), relays (Plug, Plug S, 1PM, 2.5), dimmers.
_GEN1_KINDS = ("emeter", "relay", "light")


def shelly_gen1(levels: list[str], payload: bytes, state: dict[str, Any], field: str) -> Raw | Rejected:
    """``shellies/<id>/emeter/<i>/power`` (EM, 3EM), ``shellies/<id>/relay/<i>/power`` (Plug, Plug S, 1PM, 2.5) or
    ``shellies/<id>/light/<i>/power`` (Dimmer): one plain number (W) per channel on its own topic, :class:`Channels`
    named ``<i>`` (emeter), ``relay-<i>``, ``light-<i>``, with the latest value of each (a 3EM's three phases are
    summed, an EM's two clamps kept apart: see the profile)."""
    kind, index = (levels[0], levels[1]) if len(levels) == 2 else ("emeter", levels[0] if levels else "0")
    if kind not in _GEN1_KINDS:
        return Rejected("not_power", f"{kind[:40]}/{index[:10]}/power")
    text = _text(payload)
    if isinstance(text, Rejected):
        return text
    channel = index if kind == "emeter" else f"{kind}-{index}"
    state[channel] = text
    return Channels({c: state[c] for c in sorted(state)}, (channel,)), None


#: DSMR-reader's JSON telegram fields (its default mapping) of the power drawn and returned, kW.
_DSMR_DELIVERED, _DSMR_RETURNED = "electricity_currently_delivered", "electricity_currently_returned"


def dsmr_reader(levels: list[str], payload: bytes, state: dict[str, Any], field: str) -> Raw | Rejected:
    """``dsmr/json``: DSMR-reader's JSON telegram, ``{"timestamp": "2018-01-01T00:00:00Z",
    "electricity_currently_delivered": "0.523", "electricity_currently_returned": "0.000", ...}`` (decimals as
    strings, kW; the meter's own time in UTC with ``Z``, or with the local offset if DSMR-reader is told to use its
    time zone). The power is delivered minus returned. DSMR-reader stores both for every telegram (returned is 0
    without panels), so a telegram without one was shaped by an edited mapping: rejected, never read as 0."""
    body = _object(payload)
    if isinstance(body, Rejected):
        return body
    for key, reason in ((_DSMR_DELIVERED, "no_power"), (_DSMR_RETURNED, "no_returned")):
        if key not in body:
            return Rejected(reason, f"no {key} in {str(list(body))[:60]}")
    return Net(body[_DSMR_DELIVERED], body[_DSMR_RETURNED]), body.get("timestamp")


#: Gen2/Gen3 components that carry a meter's active power, and their power key.
_GEN2_POWER = {"em": "total_act_power", "em1": "act_power", "switch": "apower", "pm1": "apower"}
_GEN2_PHASES = ("a_act_power", "b_act_power", "c_act_power")


def _gen2_power(component: str, status: dict[str, Any]) -> object:
    key = _GEN2_POWER.get(component.partition(":")[0])
    if key is None:
        return ABSENT
    if key in status:
        return status[key]
    if component.startswith("em:") and all(p in status for p in _GEN2_PHASES):
        return [status[p] for p in _GEN2_PHASES]
    return ABSENT


def _gen2_channel(component: str) -> str:
    """A component's channel name in a meter id: ``em1:1`` -> ``em1-1``; a 3-phase ``em:0`` is the device's own
    meter (``""``)."""
    return "" if component == "em:0" else component.replace(":", "-")


def _gen2_merged(changes: dict[str, Any], state: dict[str, Any], field: str, ts: object) -> Raw | Rejected:
    """Overlay ``changes`` (component -> its changed keys) on the device's known status, then read its power: the
    ``field`` if declared, else :class:`Channels` of every power component, those in ``changes`` measured now (all
    of them, restated, when only other keys changed: a voltage-only notification)."""
    for component, status in changes.items():
        if isinstance(status, dict):
            state.setdefault(component, {}).update(status)
    if field:
        value = lookup(state, field)
        return Rejected("no_power", str(list(changes))[:80]) if value is ABSENT else (value, ts)
    powers = {c: p for c, s in state.items() if (p := _gen2_power(c, s)) is not ABSENT}
    if not powers:
        return Rejected("no_power", str(list(changes))[:80])
    changed = [c for c, s in changes.items() if isinstance(s, dict) and _gen2_power(c, s) is not ABSENT]
    return Channels(
        {_gen2_channel(c): p for c, p in powers.items()}, tuple(_gen2_channel(c) for c in changed or powers)
    ), ts


def shelly_gen2(levels: list[str], payload: bytes, state: dict[str, Any], field: str) -> Raw | Rejected:
    """``<id>/events/rpc``: JSON-RPC notifications. ``NotifyStatus`` carries only what changed since the last one
    (Shelly: "overlay the changes over a known status"), so the device's status is kept whole here and the power
    read from it: ``em:0.total_act_power`` (Pro 3EM; else the sum of ``a/b/c_act_power``), ``em1:N.act_power``
    (Pro EM), ``switch:N.apower`` / ``pm1:N.apower`` (plugs, PM Mini), a channel each; ``params.ts`` is Unix
    seconds, UTC."""
    body = _object(payload)
    if isinstance(body, Rejected):
        return body
    method = body.get("method")
    params = body.get("params")
    if method not in ("NotifyStatus", "NotifyFullStatus") or not isinstance(params, dict):
        return Rejected("not_a_status", str(method)[:80])
    return _gen2_merged(params, state, field, params.get("ts"))


def shelly_gen2_status(levels: list[str], payload: bytes, state: dict[str, Any], field: str) -> Raw | Rejected:
    """``<id>/status/<component>`` ("Generic status update over MQTT", off by default on the device): the whole
    status of one component on its own topic, e.g. ``switch:0`` with ``apower``, ``em:0`` with
    ``total_act_power``, ``em1:0`` with ``act_power``; no time in it (arrival). Other components (``sys``,
    ``wifi``, ``input:0``) carry no power: ``no_power``."""
    component = levels[0] if levels else ""
    if _GEN2_POWER.get(component.partition(":")[0]) is None:
        return Rejected("no_power", f"component {component[:40]} has no power")
    body = _object(payload)
    if isinstance(body, Rejected):
        return body
    return _gen2_merged({component: body}, state, field, None)


#: How long an on-change source's last value stands for real minutes by default: an hour (a house's base load can
#: stay within a device's reporting threshold that long; a dead device is not taken for steady much longer).
ON_CHANGE_HOLD = 60

PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("wattcast", f"{DEFAULT_PREFIX}/+/reading", "kW", wattcast, whole_minutes=True),
        Profile("tasmota", "tele/+/SENSOR", "W", tasmota),
        Profile(
            "shelly-gen1",
            "shellies/+/+/+/power",
            "W",
            shelly_gen1,
            channels="apart",
            phase_devices=("shellyem3-",),
        ),
        Profile("shelly-gen2", "+/events/rpc", "W", shelly_gen2, channels="apart", hold_minutes=ON_CHANGE_HOLD),
        Profile(
            "shelly-gen2-status", "+/status/+", "W", shelly_gen2_status, channels="apart", hold_minutes=ON_CHANGE_HOLD
        ),
        Profile("esphome", "+/sensor/{field}/state", None, esphome),
        Profile(
            "zigbee2mqtt",
            "zigbee2mqtt/#",
            "W",
            zigbee2mqtt,
            not_readings=r"(bridge)(?:/.*)?|(.+)/(?:set|get|availability)",
        ),
        Profile("dsmr-reader", "dsmr/json", "kW", dsmr_reader, default_meter="dsmr"),
        Profile(
            "dsmr-reader-split",
            "dsmr/reading/electricity_currently_delivered",
            "kW",
            plain,
            default_meter="dsmr",
            hold_minutes=ON_CHANGE_HOLD,
        ),
        Profile("emonhub", "emon/+/+", "W", emonhub, channels="apart", also=("emon/+",)),
        Profile(
            "statestream",
            "homeassistant/sensor/+/state",
            None,
            statestream,
            hold_minutes=ON_CHANGE_HOLD,
            metadata=_HA_ATTRIBUTES,
            own_entities="wattcast_",
            also=tuple(f"homeassistant/sensor/+/{leaf}" for leaf in _HA_ATTRIBUTES),
        ),
        Profile(
            "ha-discovery",
            "+/sensor/+/state",  # ESPHome's default state topics
            None,  # each sensor's own, from its config
            plain,  # not called: each state is read with its sensor's template (device/sources/discovery.py)
            also=("zigbee2mqtt/#",),  # Zigbee2MQTT's device states
            discovery=("homeassistant/sensor/+/config", "homeassistant/sensor/+/+/config"),
        ),
    )
}
