"""Messages shaped like each project's documented examples, for the source tests.

Each builder gives the (topic, payload) a device of that project publishes for one power sample. Where the project
documents it:
- Tasmota, ``tele/<topic>/SENSOR``: ``{"Time":"2018-01-17T18:59:50","ENERGY":{"Total":1.956,"Yesterday":0.054,
  "Today":0.049,"Period":0,"Power":9,"Factor":0.43,"Voltage":231,"Current":0.089}}`` (a Sonoff POW's message quoted
  in https://github.com/arendst/Tasmota/issues/1621; TelePeriod default 300 s per
  https://tasmota.github.io/docs/Commands/#power-monitoring).
- Shelly Gen1 EM/3EM, ``shellies/<id>/emeter/<i>/power``: a plain number in W per channel (Shelly Gen1 MQTT API).
- Shelly Gen2/Gen3, ``<id>/events/rpc``: ``NotifyStatus`` with ``params.ts`` (Unix seconds, UTC) and only the
  changed keys of each component, "to overlay the changes over a known status"
  (https://shelly-api-docs.shelly.cloud/gen2/General/Notifications); Pro 3EM ``em:0.total_act_power``.
- ESPHome, ``<prefix>/sensor/<object_id>/state``: the sensor's state as a bare number; its unit only in the
  discovery config (esphome.io, MQTT component: ``get_default_topic_for_("state")``).
- Zigbee2MQTT, ``zigbee2mqtt/<friendly_name>``: the device's state as JSON, ``power`` in W (zigbee2mqtt.io device
  pages, e.g. smart plugs exposing ``power``, ``energy``, ``voltage``).
- DSMR-reader, ``dsmr/json`` ("Telegram: JSON"; default topic and mapping in dsmrreader/dsmr-reader
  dsmr_mqtt/models/settings/telegram.py): the reading's fields by name, ``timestamp`` plus
  ``electricity_currently_delivered`` and ``electricity_currently_returned`` in kW (dsmr_datalogger/models/reading.py,
  where both are required: 0 returned without panels), serialised by Django's DjangoJSONEncoder
  (dsmr_mqtt/services/callbacks.py ``publish_json_data``): decimals as strings (``"1.500"``, ``"0.025"`` in its API
  docs' reading), the time as ISO with ``Z`` (``"2018-01-01T00:00:00Z"``), or ``"2018-01-01T01:00:00+01:00"`` with
  "use local timezone" (dsmr_mqtt/tests/services/test_telegram.py).
- DSMR-reader split topic, ``dsmr/reading/electricity_currently_delivered``: a numeric string in kW such as
  ``"00.196"`` (same settings file; kW as HA's dsmr_reader definitions in home-assistant/core#28701).
- emonhub, ``emon/<node>/<input>``: ``topic: basetopic/emontx/power1, message: 100`` (emonhub's nodevar format,
  openenergymonitor forum node 12091).
- HA mqtt_statestream, ``<base_topic>/sensor/<object_id>/state``: the raw state string, ``unavailable`` possible
  (https://www.home-assistant.io/integrations/mqtt_statestream/).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

Message = tuple[str, bytes]
Builder = Callable[[str, float, float], list[Message]]


def tasmota_message(meter: str, t_s: float, watts: float, zone: str = "Europe/Paris") -> list[Message]:
    wall = datetime.fromtimestamp(t_s, ZoneInfo(zone)).replace(tzinfo=None).isoformat(timespec="seconds")
    body = {
        "Time": wall,
        "ENERGY": {
            "TotalStartTime": "2026-11-01T00:00:00",
            "Total": 12.345,
            "Yesterday": 3.2,
            "Today": 1.1,
            "Period": 2,
            "Power": watts,
            "ApparentPower": watts * 1.1,
            "ReactivePower": watts * 0.4,
            "Factor": 0.91,
            "Voltage": 231,
            "Current": 1.7,
        },
    }
    return [(f"tele/{meter}/SENSOR", json.dumps(body).encode())]


def shelly_gen1_messages(meter: str, t_s: float, watts: float) -> list[Message]:
    """A 3EM: one message per phase, the meter's power split over them."""
    return [(f"shellies/{meter}/emeter/{i}/power", f"{watts / 3:.6f}".encode()) for i in range(3)]


def shelly_gen2_message(meter: str, t_s: float, watts: float) -> list[Message]:
    body = {
        "src": meter,
        "dst": f"{meter}/events",
        "method": "NotifyStatus",
        "params": {"ts": t_s, "em:0": {"id": 0, "total_act_power": watts}},
    }
    return [(f"{meter}/events/rpc", json.dumps(body).encode())]


def shelly_gen2_voltage_only(meter: str, t_s: float) -> Message:
    """A partial NotifyStatus: only phase A's voltage changed, so no power in it."""
    body = {
        "src": meter,
        "dst": f"{meter}/events",
        "method": "NotifyStatus",
        "params": {"ts": t_s, "em:0": {"id": 0, "a_voltage": 231.4}},
    }
    return f"{meter}/events/rpc", json.dumps(body).encode()


def esphome_message(meter: str, t_s: float, watts: float) -> list[Message]:
    return [(f"{meter}/sensor/power/state", f"{watts:.1f}".encode())]


def zigbee2mqtt_message(meter: str, t_s: float, watts: float) -> list[Message]:
    body = {"state": "ON", "power": watts, "energy": 1.23, "voltage": 230, "current": 0.4, "linkquality": 120}
    return [(f"zigbee2mqtt/{meter}", json.dumps(body).encode())]


def dsmr_json_message(meter: str, t_s: float, watts: float) -> list[Message]:
    return [("dsmr/json", json.dumps(dsmr_json(t_s, f"{watts / 1000:.3f}", "0.000")).encode())]


def dsmr_json(t_s: float, delivered: str, returned: str) -> dict:
    """DSMR-reader's default JSON telegram at ``t_s`` (UTC, ``Z``) of a one-phase meter without a gas meter, the
    values as DSMR-reader sends them."""
    stamp = datetime.fromtimestamp(t_s, UTC).isoformat().replace("+00:00", "Z")
    return {
        "id": 4343119,
        "timestamp": stamp,
        "electricity_delivered_1": "2000.000",
        "electricity_returned_1": "0.000",
        "electricity_delivered_2": "3000.000",
        "electricity_returned_2": "0.000",
        "electricity_currently_delivered": delivered,
        "electricity_currently_returned": returned,
        "phase_currently_delivered_l1": delivered,
        "phase_currently_delivered_l2": None,
        "phase_currently_delivered_l3": None,
        "phase_currently_returned_l1": returned,
        "phase_currently_returned_l2": None,
        "phase_currently_returned_l3": None,
        "extra_device_timestamp": None,
        "extra_device_delivered": None,
        "phase_voltage_l1": "231.0",
        "phase_voltage_l2": None,
        "phase_voltage_l3": None,
        "phase_power_current_l1": 2,
        "phase_power_current_l2": None,
        "phase_power_current_l3": None,
    }


def dsmr_split_message(meter: str, t_s: float, watts: float) -> list[Message]:
    return [("dsmr/reading/electricity_currently_delivered", f"{watts / 1000:06.3f}".encode())]


def emonhub_message(meter: str, t_s: float, watts: float) -> list[Message]:
    """Input ``power1`` of node ``emontx``: the meter ``emontx.power1`` (each power input is a meter)."""
    return [(f"emon/{meter.partition('.')[0]}/power1", f"{watts:g}".encode())]


def statestream_message(meter: str, t_s: float, watts: float) -> list[Message]:
    return [(f"homeassistant/sensor/{meter}/state", f"{watts:.2f}".encode())]


def utc(text: str) -> float:
    """Epoch seconds of an ISO time with offset."""
    return datetime.fromisoformat(text).astimezone(UTC).timestamp()


T0 = utc("2026-11-20T10:00:00+00:00")
#: Watts of each sample, three a minute at :00, :20 and :40 (multiples of 30, so every project's text form is exact).
WATTS = [120, 450, 900, 300, 1500, 60, 2400, 2100, 30, 600, 660, 720, 90, 3000, 330, 510, 240, 180, 870, 960, 1200]
SAMPLE_TIMES = [T0 + 20 * i for i in range(len(WATTS))]
#: Each minute holds three samples for 20 s each, so its mean is their plain mean; the last minute stays open.
HAND_MEANS_KW = [sum(WATTS[3 * m : 3 * m + 3]) / 3 / 1000 for m in range(len(WATTS) // 3 - 1)]


#: profile -> (source spec for the agent, the meter id it will report, a builder); arrival-stamped profiles take
#: the time the message arrives, the others the time in the payload.
EXAMPLES: dict[str, tuple[str | dict, str, Builder]] = {
    "tasmota": ("tasmota", "plug1", tasmota_message),
    "shelly-gen1": ("shelly-gen1", "shellyem3-abc", shelly_gen1_messages),
    "shelly-gen2": ("shelly-gen2", "shellypro3em-abc", shelly_gen2_message),
    "esphome": ("esphome:W", "node1", esphome_message),
    "zigbee2mqtt": ("zigbee2mqtt", "kitchen_plug", zigbee2mqtt_message),
    "dsmr-reader": ("dsmr-reader", "dsmr", dsmr_json_message),
    "dsmr-reader-split": ({"profile": "dsmr-reader-split", "meter": "dsmr-split"}, "dsmr-split", dsmr_split_message),
    "emonhub": ("emonhub", "emontx.power1", emonhub_message),
    "statestream": ("statestream:W", "house_power", statestream_message),
}
STAMPED = {"tasmota", "shelly-gen2", "dsmr-reader"}
