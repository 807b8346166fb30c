"""Garbage in, agent still standing: >= 10,000 bad payloads interleaved with a real meter's readings.

The big run feeds the agent's inbox in-process (the same path as paho's network thread, without the wire, so it
takes seconds); a smaller run goes over a real Mosquitto. Every message is accounted for: rejected by reason,
or accepted, and the valid meter's readings are all predicted and scored.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections import Counter
from pathlib import Path

import pytest
from paho.mqtt.client import topic_matches_sub

from device.agent import Agent
from device.config import AgentConfig
from device.contract import MEASUREMENTS
from device.mqtt.link import Inbound
from device.wire import encode_reading, timestamps
from tests.device_assets import LINREG_SPEC, Series, build_assets
from tests.test_agent_mqtt import publisher, wait_for

log = logging.getLogger(__name__)
NO_ACK = (0, 0)  # an in-process message has no MQTT packet to acknowledge (QoS 0: nothing is sent)
GOOD = {"ts": "2007-01-01T00:00:00", "gap": 0.5, "grp": 0.1, "v": 240.0, "gi": 2.0, "sm1": 0, "sm2": 1, "sm3": 0}


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> Path:
    return build_assets(tmp_path_factory.mktemp("assets"), Series.bundled())


def _json(**changes) -> bytes:
    body = {**GOOD, **changes}
    return json.dumps({k: v for k, v in body.items() if v is not ...}).encode()


def bad_payloads(rng: random.Random) -> list[tuple[str, bytes, str]]:
    """One of each kind of garbage as (topic, payload, the reason the agent must give); meter ``fuzz``."""
    topic = "meter/fuzz/reading"
    cases = [
        (topic, rng.randbytes(rng.randint(1, 40)).decode("latin-1").encode() + b"{", "not_json"),
        (topic, b'{"ts": "2007-01-01T00:00:00", "gap": ', "not_json"),
        (topic, b"\xff\xfe" + rng.randbytes(20), "not_utf8"),
        (topic, b"[1, 2, 3]", "not_an_object"),
        (topic, b"42", "not_an_object"),
        (topic, _json(ts=...), "bad_ts"),
        (topic, _json(ts=True), "bad_ts"),  # epoch seconds are a valid time (issue 13); a boolean is not
        (topic, _json(ts="yesterday"), "bad_ts"),
        (topic, _json(gap="0.5"), "bad_value"),
        (topic, _json(gap=True), "bad_value"),
        (topic, _json(v=[240.0]), "bad_value"),
        (topic, b'{"ts": "2007-01-01T00:00:00", "gap": Infinity}', "bad_value"),
        (topic, b'{"ts": "2007-01-01T00:00:00", "gap": 1e999}', "bad_value"),
        (topic, _json(gap=-3.0), "out_of_range"),
        (topic, _json(gap=1e308), "out_of_range"),
        (topic, _json(v=-240.0), "out_of_range"),
        (topic, _json(gi=1e6), "out_of_range"),
        (topic, _json(sm3=10**308), "out_of_range"),
        (topic, _json(ts="1900-01-01T00:00:00"), "ts_out_of_range"),
        (topic, _json(ts="1999-12-31T23:59:00"), "ts_out_of_range"),
        (topic, _json(ts="9999-12-31T23:59:00"), "ts_out_of_range"),
        (topic, _json(ts="2200-01-01T00:00:00"), "ts_out_of_range"),
        (topic, b"{" + b" " * (1 << 20) + b"}", "too_large"),
        ("meter/fuzz", _json(), "bad_topic"),
        ("meter/fuzz/reading/extra", _json(), "bad_topic"),
        ("meter/bad id!/reading", _json(), "bad_meter_id"),
        ("elsewhere/fuzz/reading", _json(), "bad_topic"),
    ]
    return cases


def accepted_oddities(minute: int) -> list[tuple[str, bytes, None]]:
    """Well-formed readings with odd but valid content, for meter ``odd``: the agent takes them (NaN is a missing
    value, extra fields are ignored), they must not hurt anyone else."""
    ts = str(timestamps([minute])[0])
    topic = "meter/odd/reading"
    payloads = [
        _json(ts=ts, extra="field", more=[1, 2]),
        _json(ts=ts, gap=None, grp=...),
        b'{"ts": "' + ts.encode() + b'", "gap": NaN}',
        _json(ts=ts, gap=0.0, v=0.0),  # a power cut is a reading, not a fault
    ]
    return [(topic, payload, None) for payload in payloads]


def fuzz_stream(series: Series, n_bad: int, new_meters: int, seed: int = 0):
    """The valid readings of meter ``good`` in order, with bad payloads, odd readings and new meter ids between:
    (topic, payload, the reject reason the agent must give or None)."""
    rng = random.Random(seed)
    stream: list[tuple[str, bytes, str | None]] = []
    valid = [
        ("meter/good/reading", encode_reading(str(ts), dict(zip(MEASUREMENTS, raw))), None)
        for ts, raw in zip(timestamps(series.minutes), series.raw)
    ]
    bad = bad_payloads(rng)
    per_valid = n_bad // len(valid) + 1
    sent_bad = 0
    for i, reading in enumerate(valid):
        stream.append(reading)
        for _ in range(per_valid):
            if sent_bad >= n_bad:
                break
            stream.append(rng.choice(bad))
            sent_bad += 1
        stream.extend(accepted_oddities(int(series.minutes[0]) + i) if i % 50 == 0 else [])
        if i < new_meters:
            stream.append((f"meter/new{i}/reading", _json(), None))
    return stream


def start_agent(broker, assets: Path, tmp_path: Path, max_meters: int) -> Agent:
    config = AgentConfig(
        broker=broker.url,
        assets=assets,
        models=("linreg", "persistence"),
        agent_id="fuzzed",
        metrics_file=tmp_path / "metrics.json",
        max_meters=max_meters,
        tracemalloc_readings=0,
        ha_discovery=False,
        metrics_interval_s=1.0,
    )
    agent = Agent(config).start()
    wait_for(lambda: agent.link.counters["connects"] == 1, "the agent to connect")
    return agent


def check_accounting(snapshot: dict, stream: list, series: Series, new_meters: int, max_meters: int) -> None:
    readings, rejected = snapshot["readings"], snapshot["rejected"]
    expected = Counter(reason for _, _, reason in stream if reason)
    log.info("fuzz: %d messages, rejected %s, readings %s", len(stream), dict(sorted(rejected.items())), readings)
    assert readings["received"] == len(stream)
    assert rejected == dict(expected)  # every reason, and no other, exactly as often as sent
    # Meters good and odd are heard often; the stalest new meter ids make room for newer ones.
    assert snapshot["meters_evicted"] == new_meters - (max_meters - 2)
    assert len(snapshot["meters"]) == max_meters
    good = snapshot["meters"]["good"]
    assert good["persistence"]["scored"] == len(series) - 1 - LINREG_SPEC.horizon
    assert good["linreg"]["scored"] == len(series) - 1 - LINREG_SPEC.horizon


def test_ten_thousand_bad_payloads_in_process_are_rejected_by_reason_and_the_valid_meter_is_scored(
    mosquitto, assets, tmp_path
):
    series = Series.bundled(start=100, rows=1500)
    stream = fuzz_stream(series, n_bad=12_000, new_meters=1500)
    agent = start_agent(mosquitto, assets, tmp_path, max_meters=500)
    began = time.monotonic()
    for topic, payload, _ in stream:
        agent._receive(Inbound(topic, payload, time.perf_counter_ns(), NO_ACK))
    snapshot = agent.stop()
    log.info("fuzz in-process: %d messages in %.1f s", len(stream), time.monotonic() - began)
    assert sum(1 for *_, reason in stream if reason) == 12_000
    check_accounting(snapshot, stream, series, new_meters=1500, max_meters=500)


@pytest.mark.broker
def test_bad_payloads_over_the_broker_are_rejected_by_reason_and_the_valid_meter_is_scored(mosquitto, assets, tmp_path):
    series = Series.bundled(start=100, rows=300)
    # Topics outside meter/+/reading never reach the agent through the broker.
    stream = [m for m in fuzz_stream(series, n_bad=1500, new_meters=300) if topic_matches_sub("meter/+/reading", m[0])]
    agent = start_agent(mosquitto, assets, tmp_path, max_meters=100)
    client = publisher(mosquitto.port)
    for topic, payload, _ in stream:
        info = client.publish(topic, payload, qos=1)
    info.wait_for_publish(30)
    wait_for(lambda: sum(c["messages"] for c in agent.intake.counters.values()) == len(stream), "every message")
    snapshot = agent.stop()
    client.disconnect()
    check_accounting(snapshot, stream, series, new_meters=300, max_meters=100)
