"""Real meters through a real Mosquitto into the agent: Tasmota, Shelly Gen2 and DSMR-reader forecasts equal those of
the same minutes sent as wattcast JSON, every message of every source is counted, and what cannot run is refused at
start."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from device.agent import Agent, main
from device.clock import HouseholdTime
from device.config import AgentConfig
from device.contract import MEASUREMENTS, WindowSpec
from device.models.families import family
from device.models.kinds import ModelKind
from device.models.load import load_models
from device.models.manifest import Manifest, write_manifest
from device.mqtt.settings import BrokerSettings
from device.readings import DEFAULT_LIMITS
from device.sources.intake import SourceIntake
from device.sources.reader import Source
from device.wire import encode_reading, timestamps
from tests.collector import Collector
from tests.device_assets import Series, build_assets
from tests.sources_examples import (
    EXAMPLES,
    HAND_MEANS_KW,
    SAMPLE_TIMES,
    STAMPED,
    T0,
    WATTS,
    shelly_gen2_voltage_only,
)
from tests.test_agent_mqtt import publisher, wait_for

PREDICTIONS = "devices/pi01/prediction"


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> Path:
    return build_assets(tmp_path_factory.mktemp("assets"), Series.bundled(rows=600))


def start(broker, assets: Path, sources: tuple[str | dict, ...], **options) -> Agent:
    config = AgentConfig(
        broker=broker.url,
        assets=assets,
        agent_id="pi01",
        models=("linreg", "persistence"),
        source=tuple(Source.parse(s) for s in sources),
        timezone="Europe/Paris",
        tracemalloc_readings=0,
        metrics_interval_s=0.2,
        **options,
    )
    agent = Agent(config).start()
    wait_for(lambda: agent.link.counters["connects"] == 1, "the agent to connect")
    return agent


def publish_all(client, messages: list[tuple[str, bytes]]) -> None:
    info = None
    for topic, payload in messages:
        info = client.publish(topic, payload, qos=1)
    info.wait_for_publish(10)


def by_ts(payloads: list[bytes], meter: str) -> dict[tuple[str, str], float]:
    bodies = [json.loads(p) for p in payloads]
    return {(b["model"], b["ts"]): b["predicted_kw"] for b in bodies if b["meter"] == meter}


def reference_readings() -> list[tuple[str, bytes]]:
    """Meter ``ref``: the hand-computed minute means as wattcast JSON, to compare the resampled meters' forecasts to."""
    messages = []
    for ts, kw in zip(timestamps(int(T0 // 60) + np.arange(len(HAND_MEANS_KW))), HAND_MEANS_KW):
        values = dict.fromkeys(MEASUREMENTS, math.nan) | {"gap": kw}
        messages.append(("meter/ref/reading", encode_reading(f"{ts}Z", values)))
    return messages


def test_timestamped_sources_forecasts_equal_those_of_their_minute_means_as_wattcast_json(mosquitto, assets):
    collector = Collector(BrokerSettings(mosquitto.url), [PREDICTIONS])
    agent = start(mosquitto, assets, ("wattcast", *(EXAMPLES[p][0] for p in sorted(STAMPED))))
    client = publisher(mosquitto.port)
    messages = []
    for profile in sorted(STAMPED):
        _, meter, build = EXAMPLES[profile]
        messages += [m for t, w in zip(SAMPLE_TIMES, WATTS) for m in build(meter, t, w)]
    publish_all(client, messages + reference_readings())
    expected = 2 * (len(HAND_MEANS_KW) - 1)  # two models, from the second minute on
    meters = ("ref", *(EXAMPLES[p][1] for p in sorted(STAMPED)))
    wait_for(
        lambda: all(len(by_ts(collector.payloads(PREDICTIONS), m)) >= expected for m in meters),
        "the predictions of every meter",
    )
    agent.stop()
    reference = by_ts(collector.payloads(PREDICTIONS), "ref")
    assert len(reference) == expected
    for meter in meters[1:]:
        got = by_ts(collector.payloads(PREDICTIONS), meter)
        assert sorted(got)[:expected] == sorted(reference)
        np.testing.assert_allclose(
            [got[k] for k in sorted(reference)], [reference[k] for k in sorted(reference)], rtol=1e-9
        )


def test_every_message_of_every_source_is_counted_nothing_dropped_silently(mosquitto, assets):
    specs = ("wattcast", *(spec for spec, _, _ in EXAMPLES.values()))
    agent = start(mosquitto, assets, specs)
    client = publisher(mosquitto.port)
    messages = [m for spec, meter, build in EXAMPLES.values() for t in SAMPLE_TIMES[:6] for m in build(meter, t, 300.0)]
    junk = [
        ("tele/plug1/SENSOR", b"{oops"),
        ("tele/plug1/SENSOR", b'{"Time":"2026-11-20T11:00:00","Switch1":"ON"}'),
        ("zigbee2mqtt/kitchen_plug", b'{"state":"ON","linkquality":120}'),
        ("node1/sensor/power/state", b"abc"),
        ("homeassistant/sensor/house_power/state", b"unavailable"),
        shelly_gen2_voltage_only("shellypro3em-abc", T0 + 200),
        ("meter/ref/reading", b"[]"),
        ("shellypro3em-abc/events/rpc", b'{"method":"NotifyEvent","params":{"ts":1}}'),
        ("dsmr/json", b'{"timestamp":"2026-11-20T10:00:00Z","electricity_currently_delivered":"0.5"}'),
    ]
    publish_all(client, messages + junk)
    wait_for(
        lambda: sum(c["messages"] for c in list(agent.intake.counters.values())) == len(messages) + len(junk),
        "every message",
    )
    snapshot = agent.stop()
    sources = snapshot["sources"]
    for name, counts in sources.items():
        taken = counts["samples"] + sum(counts["rejected"].values())
        assert counts["messages"] == taken, name
    rejected = {name: counts["rejected"] for name, counts in sources.items() if counts["rejected"]}
    assert rejected == {
        "tasmota": {"not_json": 1, "no_power": 1},
        "zigbee2mqtt": {"no_power": 1},
        "esphome": {"bad_value": 1},
        "wattcast": {"not_an_object": 1},
        "shelly-gen2": {"not_a_status": 1},
        "dsmr-reader": {"no_returned": 1},
    }
    assert sources["statestream"]["missing_values"] == 1
    assert sources["shelly-gen1"]["messages"] == 3 * 6  # three phases, one topic each


@pytest.fixture
def fit_and_unfit(tmp_path) -> Path:
    """A manifest with a model needing power only and one needing voltage too."""
    persistence = family(ModelKind.PERSISTENCE)
    write_manifest(
        tmp_path,
        Manifest(
            {
                "power_only": persistence.entry(name="power_only", window=WindowSpec()),
                "needs_v": persistence.entry(name="needs_v", window=WindowSpec(features=("gap", "v"))),
            }
        ),
    )
    return tmp_path


def test_a_chosen_model_that_needs_more_than_power_is_refused_at_start_on_a_power_only_source(fit_and_unfit):
    config = AgentConfig(assets=fit_and_unfit, models=("power_only", "needs_v"), source=(Source("tasmota"),))
    with pytest.raises(ValueError, match=r"tasmota meters send power only.*'needs_v': \['v'\]"):
        Agent(config)


def test_models_not_chosen_by_name_that_need_more_than_power_are_left_out_with_a_warning(fit_and_unfit, caplog):
    intake = SourceIntake((Source("tasmota"),), HouseholdTime("UTC"), DEFAULT_LIMITS)
    usable = load_models(
        fit_and_unfit, ("power_only", "needs_v"), usable=lambda entries: intake.usable_models(entries, chosen=False)
    )
    assert [m.name for m in usable] == ["power_only"]
    assert "not running {'needs_v': ['v']}" in caplog.text


def test_an_agent_id_home_assistant_cannot_take_is_refused_with_the_rule(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--agent-id", "pi.01"])
    assert exit_.value.code == 2
    assert "agent_id must match [a-zA-Z0-9_-]+" in capsys.readouterr().err


def test_a_plain_number_source_without_its_unit_stops_the_agent_before_it_connects(tmp_path):
    with pytest.raises(ValueError, match="esphome sends plain numbers"):
        Agent(AgentConfig(assets=tmp_path, source=(Source("esphome"),)))


@pytest.mark.broker
def test_an_agent_restarted_mid_minute_with_its_state_file_forecasts_as_if_it_never_stopped(
    mosquitto, assets, tmp_path
):
    """The first life stops with plug1's minute 1 half-sampled; the rest is published while no agent runs (the
    broker queues it for the agent's session) and the second life restores the open minute from the state file."""
    collector = Collector(BrokerSettings(mosquitto.url), [PREDICTIONS])
    client = publisher(mosquitto.port)
    _, meter, build = EXAMPLES["tasmota"]
    samples = [m for t, w in zip(SAMPLE_TIMES, WATTS) for m in build(meter, t, w)]
    cut = 5  # up to T0 + 80 s: minute 1 holds two samples
    first_life = start(mosquitto, assets, ("wattcast", "tasmota"), state_file=tmp_path / "state.json")
    publish_all(client, samples[:cut] + reference_readings())
    wait_for(
        lambda: (
            first_life.intake.counters["tasmota"]["samples"] == cut
            and first_life.intake.counters["wattcast"]["samples"] == len(HAND_MEANS_KW)
        ),
        "the first life's messages",
    )
    first_life.stop()
    publish_all(client, samples[cut:])
    second_life = start(mosquitto, assets, ("wattcast", "tasmota"), state_file=tmp_path / "state.json")
    expected = 2 * (len(HAND_MEANS_KW) - 1)
    wait_for(lambda: len(by_ts(collector.payloads(PREDICTIONS), meter)) >= expected, "plug1's predictions")
    snapshot = second_life.stop()
    assert snapshot["state"]["restore"] == "restored" and snapshot["sources"]["tasmota"]["late"] == 0
    reference, got = by_ts(collector.payloads(PREDICTIONS), "ref"), by_ts(collector.payloads(PREDICTIONS), meter)
    assert len(reference) == expected and sorted(got)[:expected] == sorted(reference)
    np.testing.assert_allclose(
        [got[k] for k in sorted(reference)], [reference[k] for k in sorted(reference)], rtol=1e-9
    )


@pytest.mark.broker
def test_a_second_source_publishing_a_meter_id_is_counted_in_the_agents_metrics_not_mixed_in(mosquitto, assets):
    agent = start(mosquitto, assets, ("tasmota", "shelly-gen2"))
    client = publisher(mosquitto.port)
    tasmota, shelly = EXAMPLES["tasmota"][2], EXAMPLES["shelly-gen2"][2]
    messages = [m for t, w in zip(SAMPLE_TIMES[:9], WATTS) for m in tasmota("house", t, w) + shelly("house", t, 5.0)]
    publish_all(client, messages)
    wait_for(lambda: agent.intake.counters["shelly-gen2"]["messages"] == 9, "every Shelly message")
    sources = agent.stop()["sources"]
    assert sources["shelly-gen2"]["rejected"] == {"meter_id_clash": 9} and sources["shelly-gen2"]["samples"] == 0
    assert (sources["tasmota"]["samples"], sources["tasmota"]["minutes"]) == (9, 2)
