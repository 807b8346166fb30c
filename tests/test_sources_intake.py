"""The intake across sources: a meter id belongs to the first source that publishes it, and what the intake holds
between messages (owners, open minutes, decoders' memory) survives the state file's strict JSON."""

from __future__ import annotations

import json
import logging
import math

import pytest

from device.clock import HouseholdTime
from device.contract import MEASUREMENTS
from device.readings import DEFAULT_LIMITS, Reading
from device.sources.intake import SourceIntake
from device.sources.reader import Source
from device.wire import encode_reading
from tests.sources_examples import SAMPLE_TIMES, WATTS, shelly_gen2_message, tasmota_message

PARIS = HouseholdTime("Europe/Paris")
SOURCES = ("wattcast", "tasmota", "shelly-gen2")


def intake_for(*specs: str) -> SourceIntake:
    return SourceIntake(tuple(Source.parse(s) for s in specs), PARIS, DEFAULT_LIMITS, grace_s=5.0)


def restarted(intake: SourceIntake, *specs: str) -> SourceIntake:
    """A new intake (with ``specs``, or the same sources) that took over ``intake``'s state through strict JSON."""
    successor = intake_for(*(specs or SOURCES))
    successor.restore(json.loads(json.dumps(intake.state(), allow_nan=False)))
    return successor


def both_named_house(intake: SourceIntake, samples: range) -> list[Reading]:
    """A Tasmota and a Shelly Gen2 both named ``house``, the Tasmota heard first, each sending its own watts."""
    readings: list[Reading] = []
    for i in samples:
        t = SAMPLE_TIMES[i]
        for topic, payload in tasmota_message("house", t, WATTS[i]) + shelly_gen2_message("house", t + 1, 5.0):
            readings += intake.read(topic, payload, arrival_s=t + 1)
    return readings


def test_a_meter_id_a_second_source_publishes_is_rejected_counted_and_logged_with_both_sources_and_the_fix(caplog):
    caplog.set_level(logging.WARNING)
    intake = intake_for(*SOURCES)
    readings = both_named_house(intake, range(9))
    assert [r.meter for r in readings] == ["house"] * 2
    tasmota_means = [sum(WATTS[:3]) / 3000, sum(WATTS[3:6]) / 3000]  # the Tasmota's alone, no Shelly 5 W in them
    assert [r.values[MEASUREMENTS.index("gap")] for r in readings] == pytest.approx(tasmota_means)
    sources = intake.snapshot()
    assert sources["shelly-gen2"]["rejected"] == {"meter_id_clash": 9}
    assert sources["shelly-gen2"]["samples"] == 0 and sources["tasmota"]["rejected"] == {}
    (line,) = [r.getMessage() for r in caplog.records if "meter_id_clash" in r.getMessage()]  # rate-limited
    for said in ("meter house", "shelly-gen2", "source tasmota's", "on house/events/rpc", "[[source]]", "rename"):
        assert said in line


def test_a_wattcast_reading_for_a_meter_another_source_owns_is_rejected_and_counted_once():
    intake = intake_for(*SOURCES)
    both_named_house(intake, range(1))
    payload = encode_reading("2026-11-20T10:00:00Z", dict.fromkeys(MEASUREMENTS, math.nan) | {"gap": 1.0})
    assert intake.read("meter/house/reading", payload, SAMPLE_TIMES[0]) == []
    assert intake.snapshot()["wattcast"]["rejected"] == {"meter_id_clash": 1}
    assert intake.rejected_by_reason()["meter_id_clash"] == 2  # the Shelly's and the wattcast message, once each
    assert intake.rejected_readings() == 1  # only the wattcast one was meant as a whole reading


def test_who_owns_a_meter_id_survives_a_restart_even_if_the_other_source_speaks_first_after_it():
    first_life = intake_for(*SOURCES)
    both_named_house(first_life, range(1))
    second_life = restarted(first_life)
    topic, payload = shelly_gen2_message("house", SAMPLE_TIMES[1], 5.0)[0]
    assert second_life.read(topic, payload, SAMPLE_TIMES[1]) == []
    assert second_life.snapshot()["shelly-gen2"]["rejected"] == {"meter_id_clash": 1}


def test_a_source_removed_since_the_save_gives_up_its_meter_ids():
    first_life = intake_for(*SOURCES)
    both_named_house(first_life, range(1))
    second_life = restarted(first_life, "shelly-gen2")
    topic, payload = shelly_gen2_message("house", SAMPLE_TIMES[1], 5.0)[0]
    second_life.read(topic, payload, SAMPLE_TIMES[1])
    counts = second_life.snapshot()["shelly-gen2"]
    assert (counts["samples"], counts["rejected"]) == (1, {})


def test_a_decoders_memory_holding_a_payloads_nan_goes_through_the_strict_state_json():
    first_life = intake_for("shelly-gen2")
    body = {
        "method": "NotifyStatus",
        "params": {"ts": SAMPLE_TIMES[0], "em:0": {"total_act_power": 300.0}, "temperature:0": {"tC": float("nan")}},
    }
    first_life.read("pro3em/events/rpc", json.dumps(body).encode(), SAMPLE_TIMES[0])
    second_life = restarted(first_life, "shelly-gen2")
    assert second_life.readers[0].states.keys() == {"pro3em"}
    assert second_life.readers[0].states["pro3em"]["em:0"] == {"total_act_power": 300.0}
