"""The replay publishes every reading once, in time order, as the agent's JSON, and never drops on a full queue."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

import simulator.replay as replay_module
from device.contract import MEASUREMENTS
from device.mqtt.settings import BrokerSettings
from device.wire import encode_reading, reading_topic, timestamps
from simulator.brokers import MosquittoBroker
from simulator.embedded_broker import EmbeddedBroker
from simulator.replay import ReplayConfig, fleet_starts, load_readings, replay
from tests.collector import Collector
from train.data import Measurements, held_out_start

T0 = int(np.datetime64("2007-04-22T00:00", "m").astype(np.int64))


@pytest.fixture
def roomy_mosquitto(tmp_path):
    """Mosquitto without its default per-subscriber queue limit of 1000, which drops QoS 1 messages for a slow
    subscriber: these tests count what the replay sends, not what a busy test collector keeps up with."""
    broker = MosquittoBroker(tmp_path / "broker", extra_config="max_queued_messages 0\n").start()
    yield broker
    broker.stop()


def synthetic_stream(n: int, missing_rows: tuple[int, ...] = ()) -> Measurements:
    """Readings whose gap value is the row number, so order and completeness can be read off the payloads."""
    values = {m: np.full(n, 0.5) for m in MEASUREMENTS}
    values["gap"] = np.arange(n, dtype=np.float64)
    missing = np.zeros(n, bool)
    missing[list(missing_rows)] = True
    for m in MEASUREMENTS:
        values[m][missing] = np.nan
    return Measurements(T0 + np.arange(n, dtype=np.int64), values, missing)


def test_payload_is_the_agents_json_with_null_for_a_missing_value():
    values = {"gap": 0.504, "grp": 0.354, "v": 240.65, "gi": 2.8, "sm1": 0.0, "sm2": 1.0, "sm3": float("nan")}
    assert json.loads(encode_reading("2007-04-22T00:00:00", values)) == {
        "ts": "2007-04-22T00:00:00",
        "gap": 0.504,
        "grp": 0.354,
        "v": 240.65,
        "gi": 2.8,
        "sm1": 0.0,
        "sm2": 1.0,
        "sm3": None,
    }


def test_timestamps_are_iso_seconds_from_minutes_since_epoch():
    assert list(timestamps(np.array([T0, T0 + 61]))) == ["2007-04-22T00:00:00", "2007-04-22T01:01:00"]


def test_topic_is_prefix_meter_reading():
    assert reading_topic("house7", "lab") == "lab/house7/reading"


def test_default_replay_is_the_held_out_part_of_the_bundled_data_with_its_gaps(bundled_data):
    readings = load_readings(ReplayConfig(data=bundled_data))
    # The notebook protocol trains on the first 80% of a 20,000-row subset of the 20,160 rows: row 16,136 on is unseen.
    assert held_out_start(20_160) == 16_136 and len(readings) == 20_160 - 16_136
    first, last = (str(np.datetime64(int(m), "m")) for m in readings.minutes[[0, -1]])
    assert (first, last) == ("2007-05-03T04:56", "2007-05-05T23:59")


def test_a_date_range_with_the_outage_keeps_its_missing_readings(bundled_data):
    readings = load_readings(ReplayConfig(data=bundled_data, start="2007-04-28", end="2007-04-29"))
    assert len(readings) == 1440
    assert int(np.isnan(readings.values["gap"]).sum()) == 1440 - 21  # the outage starts at 00:21


def test_days_caps_the_replay_length(bundled_data):
    assert len(load_readings(ReplayConfig(data=bundled_data, start="2007-04-22", days=0.5))) == 720


def test_fleet_meters_start_an_offset_apart_and_replay_the_same_count():
    assert fleet_starts(10_000, meters=3, offset=1440) == ([0, 1440, 2880], 10_000 - 2880)


def test_fleet_longer_than_the_data_is_refused():
    with pytest.raises(ValueError, match="need more than 100 readings"):
        fleet_starts(100, meters=3, offset=60)


@pytest.mark.broker
def test_every_reading_is_acknowledged_and_arrives_once_in_order(roomy_mosquitto):
    settings = BrokerSettings(roomy_mosquitto.url)
    collector = Collector(settings, ["meter/+/reading"])
    # A queue of 20 forces the replay to wait on paho's MQTT_ERR_QUEUE_SIZE many times.
    result = replay(
        ReplayConfig(broker=settings, max_inflight=10, max_queued=20, progress=False),
        synthetic_stream(3000, missing_rows=(7,)),
    )
    collector.wait_for(3000)
    collector.close()
    received = collector.json_by_topic()["meter/house1/reading"]
    assert (result.published, result.acknowledged, result.refused) == (3000, 3000, 0)
    assert result.queue_full_waits > 0
    assert [r["gap"] for r in received] == [None if i == 7 else float(i) for i in range(3000)]


@pytest.mark.broker
def test_a_fleet_publishes_each_meter_from_its_own_offset(roomy_mosquitto):
    settings = BrokerSettings(roomy_mosquitto.url)
    collector = Collector(settings, ["meter/+/reading"])
    result = replay(
        ReplayConfig(broker=settings, meters=3, meter_offset_minutes=100, progress=False), synthetic_stream(500)
    )
    collector.wait_for(900)
    collector.close()
    messages = collector.json_by_topic()
    assert result.published == result.acknowledged == 3 * 300
    assert {topic: (m[0]["gap"], m[-1]["gap"], len(m)) for topic, m in messages.items()} == {
        "meter/house1/reading": (0.0, 299.0, 300),
        "meter/house2/reading": (100.0, 399.0, 300),
        "meter/house3/reading": (200.0, 499.0, 300),
    }


@pytest.mark.broker
def test_speed_paces_the_replay_by_the_data_clock(mosquitto, monkeypatch):
    # 11 readings a minute apart: at speed 600 (10 data minutes a second) each is due 0.1 s after the one before.
    deadlines = []
    monkeypatch.setattr(replay_module, "_sleep_until", deadlines.append)
    replay(ReplayConfig(broker=BrokerSettings(mosquitto.url), speed=600, progress=False), synthetic_stream(11))
    assert [round(d - deadlines[0], 6) for d in deadlines] == [round(0.1 * i, 6) for i in range(11)]


@pytest.mark.broker
def test_replay_waits_for_a_slow_consumer_instead_of_running_ahead(mosquitto):
    asked = itertools.count()

    def consumed() -> int:  # a consumer that takes one reading every second time it is asked
        return next(asked) // 2

    config = ReplayConfig(broker=BrokerSettings(mosquitto.url), max_lead=10, progress=False)
    result = replay(config, synthetic_stream(60), consumed=consumed)
    assert result.published == 60
    # The 60th reading (index 59) may only go once the consumer took 59 - 10 + 1 = 50: it was asked 100 times.
    assert next(asked) >= 2 * 50


@pytest.mark.broker
def test_embedded_broker_takes_a_mqtt_311_replay():
    with EmbeddedBroker() as broker:
        settings = BrokerSettings(broker.url, mqtt_version="3.1.1")
        collector = Collector(settings, ["meter/+/reading"])
        result = replay(ReplayConfig(broker=settings, progress=False), synthetic_stream(500))
        collector.wait_for(500)
        collector.close()
        received = collector.json_by_topic()["meter/house1/reading"]
    assert result.acknowledged == 500
    assert [r["gap"] for r in received] == [float(i) for i in range(500)]


@pytest.mark.broker
def test_embedded_broker_refuses_mqtt_5():
    with EmbeddedBroker() as broker, pytest.raises(ConnectionError, match="Unsupported protocol version"):
        replay(ReplayConfig(broker=BrokerSettings(broker.url, mqtt_version="5"), progress=False), synthetic_stream(5))
