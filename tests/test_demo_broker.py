"""Which broker the demo uses: the one named (shared, so the run id keeps runs apart), else its own on a free port:
mosquitto when installed, else the embedded amqtt broker. Its own broker is stopped when the demo ends."""

from __future__ import annotations

import fcntl

import pytest

import simulator.demo as demo
from device.mqtt.settings import BrokerSettings
from simulator.brokers import BinaryMissing, find_mosquitto
from simulator.demo import DemoConfig, broker_for, run_demo
from simulator.embedded_broker import is_listening


@pytest.mark.broker
def test_a_named_broker_is_used_as_given(mosquitto):
    with broker_for(DemoConfig(broker=mosquitto.url, mqtt_version="5")) as (settings, kind):
        assert (settings.url, settings.mqtt_version) == (mosquitto.url, "5")
        assert kind.startswith("shared")


def test_without_a_named_broker_the_demo_starts_its_own_mosquitto_and_stops_it_after(tmp_path):
    find_mosquitto()
    with broker_for(DemoConfig(out_dir=tmp_path)) as (settings, kind):
        assert kind.startswith("own mosquitto") and settings.mqtt_version == "5"
        assert settings.host == "127.0.0.1" and settings.port != 1883
        assert is_listening(settings.host, settings.port)
    assert not is_listening(settings.host, settings.port)


def test_without_mosquitto_an_embedded_amqtt_broker_runs_mqtt_311_and_is_stopped_after(monkeypatch, tmp_path):
    def no_mosquitto(self):
        raise BinaryMissing("the mosquitto binary is not installed (apt-get install mosquitto)")

    monkeypatch.setattr(demo.MosquittoBroker, "start", no_mosquitto)
    with broker_for(DemoConfig(out_dir=tmp_path)) as (settings, kind):
        assert kind.startswith("own embedded amqtt") and settings.mqtt_version == "3.1.1"
        assert settings.host == "127.0.0.1" and settings.port != 1883
        assert is_listening(settings.host, settings.port)
    assert not is_listening(settings.host, settings.port)


def test_a_second_demo_writing_to_the_same_folder_is_refused(tmp_path):
    with (tmp_path / ".demo.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with pytest.raises(RuntimeError, match="another demo is writing to .*--out"):
            run_demo(DemoConfig(out_dir=tmp_path))


def test_an_unknown_mqtt_version_is_refused_before_connecting():
    with pytest.raises(ValueError, match="mqtt_version must be 5 or 3.1.1"):
        BrokerSettings("mqtt://127.0.0.1:1883", mqtt_version="4")
