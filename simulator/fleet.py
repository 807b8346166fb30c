"""A fleet of meters published through a broker at QoS 1, and the readings' bodies: for the fleet tests and
``bench.cluster`` (the benchmark must not import the tests).

Meters are ``fleet000..`` and every reading is a real row of the bundled data, each meter starting at its own
offset, so a test can tell every meter's real values apart from filled ones. The publisher waits for every PUBACK
and can take a list of brokers, moving to the next when its connection drops.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from device.contract import MEASUREMENTS
from device.mqtt_client import point_at
from device.payload import encode_reading, reading_topic, timestamps
from train.data import load_measurements

log = logging.getLogger(__name__)
BUNDLED = Path(__file__).resolve().parents[1] / "data" / "household_power_14d.txt"
_GAP = MEASUREMENTS.index("gap")


@dataclass(frozen=True)
class FleetData:
    """``meters`` meters x ``readings`` consecutive minutes; meter i replays the bundled rows from i x stride."""

    meters: int
    readings: int
    minutes: np.ndarray  # (readings,) the minutes every meter reports (the same clock)
    raw: np.ndarray  # (meters, readings, len(MEASUREMENTS)) without nulls

    @classmethod
    def bundled(cls, meters: int, readings: int, stride: int = 37) -> FleetData:
        m = load_measurements(BUNDLED)
        values = np.stack([m.values[k] for k in MEASUREMENTS], axis=1)
        clean = values[~np.isnan(values).any(axis=1)]
        if len(clean) < (meters - 1) * stride + readings:
            raise ValueError(f"the bundled data has too few clean rows for {meters} meters x {readings} readings")
        raw = np.stack([clean[i * stride : i * stride + readings] for i in range(meters)])
        return cls(meters, readings, m.minutes[:readings].copy(), raw)

    def meter(self, i: int) -> str:
        return f"fleet{i:03d}"

    @property
    def meter_ids(self) -> list[str]:
        return [self.meter(i) for i in range(self.meters)]

    def gap(self, meter: str) -> dict[int, float]:
        """Minute -> the real ``gap`` value of ``meter``."""
        i = self.meter_ids.index(meter)
        return dict(zip(self.minutes.tolist(), self.raw[i, :, _GAP].tolist()))

    def messages(self, start: int = 0, stop: int | None = None) -> list[tuple[str, bytes]]:
        """(topic, payload) of minutes ``start:stop``, minute by minute, every meter in each minute."""
        stamps = timestamps(self.minutes)
        return [(reading_topic(self.meter(i)), encode_reading(str(stamps[k]), dict(zip(MEASUREMENTS, self.raw[i, k]))))
                for k in range(start, self.readings if stop is None else stop) for i in range(self.meters)]


class FleetPublisher:
    """A QoS 1 publisher (MQTT 3.1.1, which NATS speaks) that counts PUBACKs and fails over between brokers."""

    def __init__(self, brokers: list[tuple[str, int]], client_id: str, username: str = "", password: str = "",
                 max_inflight: int = 200) -> None:
        self._brokers = brokers
        self._broker = 0
        self.acked = 0
        self._lock = threading.Condition()
        self._connected = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311,
                                  clean_session=False)
        if username:
            self.client.username_pw_set(username, password)
        self.client.max_inflight_messages_set(max_inflight)
        self.client.max_queued_messages_set(0)
        self.client.reconnect_delay_set(0.2, 2)
        self.client.on_connect = lambda *_: self._connected.set()
        self.client.on_publish = self._acked
        self.client.on_disconnect = self._dropped
        self.client.connect_async(*brokers[0])
        self.client.loop_start()
        if not self._connected.wait(15):
            raise TimeoutError(f"publisher could not connect to {brokers[0]}")

    def _acked(self, *_: object) -> None:
        with self._lock:
            self.acked += 1
            self._lock.notify_all()

    def _dropped(self, *_: object) -> None:
        self._connected.clear()
        if len(self._brokers) > 1:
            self._broker = (self._broker + 1) % len(self._brokers)
            point_at(self.client, *self._brokers[self._broker])

    def publish(self, messages: list[tuple[str, bytes]], timeout_s: float = 60.0) -> int:
        """Publish at QoS 1 and wait for every PUBACK; returns how many were acknowledged."""
        start = self.acked
        for topic, payload in messages:
            self.client.publish(topic, payload, qos=1)
        self.wait_acked(start + len(messages), timeout_s)
        return self.acked - start

    def wait_acked(self, count: int, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while self.acked < count:
                if not self._lock.wait(max(deadline - time.monotonic(), 0)) and time.monotonic() > deadline:
                    raise TimeoutError(f"{self.acked} of {count} readings acknowledged within {timeout_s:.0f} s")

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
