"""A test's eyes on a broker: a subscriber that keeps every message on some topics, in arrival order."""

from __future__ import annotations

import json
import threading
import time

import paho.mqtt.client as mqtt

from device.mqtt.client import make_client
from device.mqtt.settings import BrokerSettings


class Collector:
    """Subscribed (QoS 1) to ``topics`` once constructed; keeps (topic, payload, retained) per message."""

    def __init__(self, settings: BrokerSettings, topics: list[str], timeout_s: float = 15.0) -> None:
        self.messages: list[tuple[str, bytes, bool]] = []
        self._arrived = threading.Condition()
        subscribed = threading.Event()
        self.client = make_client(settings, f"collector-{time.monotonic_ns()}")
        self.client.on_connect = lambda client, *_: client.subscribe([(t, 1) for t in topics])
        self.client.on_subscribe = lambda *_: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect(settings.host, settings.port)
        self.client.loop_start()
        assert subscribed.wait(timeout_s), f"no SUBACK for {topics} within {timeout_s} s"

    def _on_message(self, client, userdata, message: mqtt.MQTTMessage) -> None:
        with self._arrived:
            self.messages.append((message.topic, message.payload, bool(message.retain)))
            self._arrived.notify_all()

    def payloads(self, topic: str) -> list[bytes]:
        with self._arrived:
            return [p for t, p, _ in self.messages if t == topic]

    def json_by_topic(self) -> dict[str, list]:
        """Every payload JSON-decoded, per topic, in arrival order."""
        by_topic: dict[str, list] = {}
        with self._arrived:
            for topic, payload, _ in self.messages:
                by_topic.setdefault(topic, []).append(json.loads(payload))
        return by_topic

    def wait_for(self, total: int, timeout_s: float = 20.0) -> bool:
        """Until ``total`` messages arrived (False if the timeout passed first)."""
        with self._arrived:
            return self._arrived.wait_for(lambda: len(self.messages) >= total, timeout_s)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
