"""A fleet of meters published through a broker at QoS 1, and the readings' bodies: for the fleet tests and
``bench.cluster`` (the benchmark must not import the tests).

Meters are ``fleet000..`` and every reading is a real row of the bundled data, each meter starting at its own
offset, so a test can tell every meter's real values apart from filled ones. The meters publish through
:func:`fleet_publisher`, which fails over along the brokers of its settings and waits for every PUBACK.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device.contract import MEASUREMENTS
from device.mqtt.settings import BrokerSettings
from device.wire import encode_reading, reading_topic, timestamps
from simulator.publisher import AckingPublisher
from train.data import load_measurements

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
        return [
            (reading_topic(self.meter(i)), encode_reading(str(stamps[k]), dict(zip(MEASUREMENTS, self.raw[i, k]))))
            for k in range(start, self.readings if stop is None else stop)
            for i in range(self.meters)
        ]


def fleet_publisher(settings: BrokerSettings, client_id: str) -> AckingPublisher:
    """The meters' client: 200 unacknowledged at once, no bound on paho's queue (a share is published in one go),
    and a reconnect backoff of at most 2 s, so a failover to the next node is quick."""
    return AckingPublisher(settings, client_id, max_inflight=200, max_queued=0, reconnect_delay_s=(0.2, 2.0))
