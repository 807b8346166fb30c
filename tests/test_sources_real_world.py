"""What real homes send besides the normal payloads (issue 22), each case with the payload as the device's own docs
show it: nothing stale, foreign or missing is taken as a measured minute."""

from __future__ import annotations

import json

from device.clock import HouseholdTime
from device.readings import DEFAULT_LIMITS, Reading
from device.sources.intake import SourceIntake
from device.sources.reader import Source
from tests.sources_examples import T0

PARIS = HouseholdTime("Europe/Paris")
MINUTE0 = int(T0 // 60)


def intake_for(*specs: str | dict, zone: HouseholdTime = PARIS) -> SourceIntake:
    return SourceIntake(tuple(Source.parse(s) for s in specs), zone, DEFAULT_LIMITS, grace_s=5.0)


def minutes_of(readings: list[Reading]) -> list[tuple[int, float, bool]]:
    return [(r.minute - MINUTE0, round(float(r.values[0]), 6), r.held) for r in readings]


# --- case 1: null is a missing value ---------------------------------------------------------------------------


def test_a_zigbee2mqtt_null_power_is_a_missing_value_left_out_of_the_mean_not_the_earlier_value_held():
    """Zigbee2MQTT publishes ``"power": null`` when a plug has no reading (zigbee2mqtt.io device pages list power as
    a nullable numeric expose)."""
    intake = intake_for("zigbee2mqtt")
    readings = []
    for dt, power in ((0, 900), (30, None), (40, 600), (70, 600), (130, 600)):
        body = {"state": "ON", "power": power, "energy": 1.23, "linkquality": 120}
        readings += intake.read("zigbee2mqtt/kitchen_plug", json.dumps(body).encode(), T0 + dt)
    # minute 0: 900 W for 30 s, unknown for 10 s, 600 W for 20 s: the mean of what is known, not 900 W held on
    assert minutes_of(readings) == [(0, 0.78, False), (1, 0.6, False)]
    counts = intake.snapshot()["zigbee2mqtt"]
    assert counts["missing_values"] == 1 and counts["rejected"] == {}


def test_a_tasmota_null_power_is_a_missing_value_and_a_minute_of_nulls_is_not_a_held_minute():
    """Tasmota's SENSOR message with ``"Power": null`` (a channel without a reading)."""
    intake = intake_for("tasmota")
    readings = []
    for dt, power in ((0, 500), (60, None), (90, None), (180, 700), (250, 700)):
        wall = "2026-11-20T11:{:02d}:{:02d}".format(*divmod(dt, 60))
        body = {"Time": wall, "ENERGY": {"Power": power, "Voltage": 231}}
        readings += intake.read("tele/plug1/SENSOR", json.dumps(body).encode(), T0 + dt)
    # minute 1 and 2 hold only nulls: absent (for the stream to fill and mark), never 0.5 kW held and shown as read
    assert minutes_of(readings) == [(0, 0.5, False), (3, 0.7, False)]
    assert intake.snapshot()["tasmota"]["missing_values"] == 2
