"""The simulator's one QoS 1 publisher against real Mosquittos: every message ends up acknowledged or refused, and a
broker list is failed over whether its first broker is down at the start or stops mid-stream."""

from __future__ import annotations

import pytest

from device.mqtt.settings import BrokerSettings
from simulator.brokers import MosquittoBroker, free_port
from simulator.publisher import AckingPublisher

QUICK_RECONNECT_S = (0.1, 0.5)
TIMEOUT_S = 15.0


def readings(count: int, start: int = 0) -> list[tuple[str, bytes]]:
    return [("meter/house1/reading", str(i).encode()) for i in range(start, start + count)]


def test_a_comma_separated_broker_url_is_a_failover_list_starting_at_its_first_broker():
    settings = BrokerSettings("mqtt://10.0.0.1:1884, mqtt://10.0.0.2")
    assert settings.brokers == [("10.0.0.1", 1884), ("10.0.0.2", 1883)]
    assert (settings.host, settings.port) == ("10.0.0.1", 1884)


@pytest.mark.parametrize("url", ["mqtt://a:1883,mqtts://b:8883", "mqtt://a:1883,http://b", ","])
def test_a_broker_list_of_mixed_or_foreign_schemes_is_refused(url):
    with pytest.raises(ValueError, match="all of one scheme"):
        BrokerSettings(url)


def test_a_persistent_session_is_refused_for_mqtt_5():
    with pytest.raises(ValueError, match="clean_session=False"):
        BrokerSettings(mqtt_version="5", persistent_session=True)


@pytest.mark.broker
def test_a_broker_list_starts_on_the_next_broker_when_the_first_is_down(mosquitto):
    down = f"mqtt://127.0.0.1:{free_port()}"
    publisher = AckingPublisher(
        BrokerSettings(f"{down},{mosquitto.url}"),
        "meters",
        max_inflight=10,
        max_queued=0,
        reconnect_delay_s=QUICK_RECONNECT_S,
    )
    try:
        assert publisher.publish_all(readings(100), TIMEOUT_S) == 100
    finally:
        publisher.close()
    assert publisher.failovers == 1


@pytest.mark.broker
def test_a_broker_list_fails_over_when_the_broker_in_use_stops_and_nothing_is_lost(tmp_path, mosquitto):
    first = MosquittoBroker(tmp_path / "first").start()
    publisher = AckingPublisher(
        BrokerSettings(f"{first.url},{mosquitto.url}", mqtt_version="3.1.1", persistent_session=True),
        "meters",
        max_inflight=10,
        max_queued=0,
        reconnect_delay_s=QUICK_RECONNECT_S,
    )
    try:
        assert publisher.publish_all(readings(100), TIMEOUT_S) == 100
        first.stop()
        assert publisher.publish_all(readings(100, start=100), TIMEOUT_S) == 100  # acknowledged by the second
    finally:
        publisher.close()
        first.stop()
    assert (publisher.published, publisher.acknowledged, publisher.refused, publisher.failovers) == (200, 200, 0, 1)


@pytest.mark.broker
def test_publishes_the_broker_refuses_are_counted_apart_from_the_acknowledged(tmp_path):
    acl = tmp_path / "acl"
    acl.write_text("topic write meter/#\n")  # before any user line: what anonymous clients may do
    broker = MosquittoBroker(tmp_path / "broker", extra_config=f"acl_file {acl}\n").start()
    publisher = AckingPublisher(BrokerSettings(broker.url), "meters", max_inflight=10, max_queued=0)
    try:
        acknowledged = publisher.publish_all([*readings(3), ("devices/pi01/prediction", b"{}")], TIMEOUT_S)
    finally:
        publisher.close()
        broker.stop()
    assert (acknowledged, publisher.refused, publisher.settled) == (3, 1, 4)
