"""Which broker the demo uses: the one named, else one on localhost:1883, else an embedded amqtt broker."""

from __future__ import annotations

import pytest

import simulator.demo as demo
from simulator.connection import BrokerSettings
from simulator.demo import DemoConfig, broker_for
from simulator.embedded_broker import is_listening


@pytest.mark.broker
def test_a_named_broker_is_used_as_given(mosquitto):
    with broker_for(DemoConfig(broker=mosquitto.url, mqtt_version="5")) as (settings, kind):
        assert (settings.url, settings.mqtt_version) == (mosquitto.url, "5")
        assert kind.startswith("given")


def test_a_broker_on_localhost_1883_is_used_when_none_is_named(monkeypatch):
    monkeypatch.setattr(demo, "is_listening", lambda host, port: (host, port) == ("127.0.0.1", 1883))
    with broker_for(DemoConfig()) as (settings, kind):
        assert settings.url == "mqtt://127.0.0.1:1883"
        assert kind.startswith("already running")


@pytest.mark.broker
def test_without_any_broker_an_embedded_one_runs_mqtt_311_and_is_stopped_after(monkeypatch):
    monkeypatch.setattr(demo, "is_listening", lambda host, port: False)
    with broker_for(DemoConfig()) as (settings, kind):
        assert kind.startswith("embedded amqtt") and settings.mqtt_version == "3.1.1"
        assert settings.host == "127.0.0.1" and settings.port != 1883
        assert is_listening(settings.host, settings.port)
    assert not is_listening(settings.host, settings.port)


def test_an_unknown_mqtt_version_is_refused_before_connecting():
    with pytest.raises(ValueError, match="mqtt_version must be one of"):
        BrokerSettings("mqtt://127.0.0.1:1883", mqtt_version="4")
