"""The agent's throughput and added latency through a real Mosquitto at QoS 1, and its memory.

``python -m bench.throughput --help``. Starts Mosquitto on a free port (tests/brokers.py, with an unbounded queue so
the broker never drops), runs ``python device/agent.py`` as a child process per model, and
1. floods ``--readings`` readings over ``--meters`` meters as fast as one publisher can: readings/s until the agent
   has taken them all (zero loss: every reading accepted and predicted);
2. paces ``--rate`` readings/s for ``--seconds``: the agent's end-to-end latency (message received to prediction
   published) is the latency it adds.
Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from tqdm import tqdm

from device.contract import MEASUREMENTS
from simulator.payload import encode_reading, timestamps
from tests.brokers import MosquittoBroker

log = logging.getLogger(__name__)
AGENT = Path(__file__).resolve().parents[1] / "device" / "agent.py"
UNBOUNDED_BROKER = "max_queued_messages 0\nmax_inflight_messages 100\n"


@dataclass(frozen=True)
class ThroughputBenchConfig:
    assets: Path = Path("firmware_assets")
    models: tuple[str, ...] = ("lstm_int8", "linreg")
    readings: int = 20_000
    meters: int = 10
    rate: float = 1000.0
    seconds: float = 5.0


@dataclass(frozen=True)
class Row:
    model: str
    readings_per_s: float
    lost: int
    e2e_p50_us: float
    e2e_p99_us: float
    rss_mb: float


def _payloads(count: int, meters: int) -> list[tuple[str, bytes]]:
    """Synthetic but plausible readings: a daily-shaped load, minute by minute, round-robin over meters."""
    per_meter = count // meters
    minutes = np.arange(per_meter, dtype=np.int64) + int(np.datetime64("2007-04-22T00:00", "m").astype(np.int64))
    gap = 1.0 + 0.8 * np.sin(np.arange(per_meter) * 2 * np.pi / 1440)
    values = {m: np.full(per_meter, 1.0) for m in MEASUREMENTS} | {"gap": gap}
    stamps = timestamps(minutes)
    return [(f"meter/b{k}/reading", encode_reading(str(stamps[i]), {m: values[m][i] for m in MEASUREMENTS}))
            for i in range(per_meter) for k in range(meters)]


class _AgentChild:
    def __init__(self, broker: MosquittoBroker, assets: Path, model: str, work: Path) -> None:
        self.metrics_file = work / f"{model}.metrics.json"
        self.metrics_file.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, str(AGENT), "--broker", broker.url, "--assets", str(assets), "--models", model,
             "--agent-id", f"bench-{model}", "--metrics-file", str(self.metrics_file), "--metrics-interval-s", "0.2",
             "--no-ha-discovery", "--session-expiry-s", "0", "--tracemalloc-readings", "0", "--log-level", "WARNING"])

    def metrics(self) -> dict | None:
        try:
            return json.loads(self.metrics_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def wait_accepted(self, count: int, timeout_s: float = 300.0) -> dict:
        """Until the agent has taken ``count`` readings (0: until it is connected and subscribed)."""
        deadline = time.monotonic() + timeout_s
        while True:
            snapshot = self.metrics()
            if snapshot and snapshot["publish"]["connects"] and snapshot["readings"]["accepted"] >= count:
                return snapshot
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"the agent took {snapshot and snapshot['readings']} of {count} readings")
            time.sleep(0.05)

    def stop(self) -> dict:
        self.process.terminate()
        self.process.wait(timeout=30)
        return self.metrics()


def _publisher(broker: MosquittoBroker) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-meters")
    client.max_inflight_messages_set(100)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    return client


def _publish(client: mqtt.Client, messages: list[tuple[str, bytes]], rate: float | None) -> None:
    start = time.perf_counter()
    for i, (topic, payload) in enumerate(tqdm(messages, desc="publishing", leave=False)):
        while client.publish(topic, payload, qos=1).rc == mqtt.MQTT_ERR_QUEUE_SIZE:
            time.sleep(0.001)
        if rate:
            delay = start + (i + 1) / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)


def bench_model(broker: MosquittoBroker, config: ThroughputBenchConfig, model: str, work: Path) -> Row:
    flood = _payloads(config.readings, config.meters)
    paced = _payloads(int(config.rate * config.seconds), config.meters)
    client = _publisher(broker)
    agent = _AgentChild(broker, config.assets, model, work)
    try:
        agent.wait_accepted(0, 60)
        time.sleep(0.2)  # the SUBACK follows the CONNACK
        start = time.perf_counter()
        _publish(client, flood, rate=None)
        agent.wait_accepted(len(flood))
        readings_per_s = len(flood) / (time.perf_counter() - start)
    finally:
        flooded = agent.stop()
    agent = _AgentChild(broker, config.assets, model, work)  # a fresh agent: latency not skewed by the flood
    try:
        agent.wait_accepted(0, 60)
        time.sleep(0.2)
        _publish(client, paced, rate=config.rate)
        agent.wait_accepted(len(paced))
    finally:
        paced_metrics = agent.stop()
        client.disconnect()
        client.loop_stop()
    expected_predictions = len(flood) - config.meters
    e2e = paced_metrics["models"][model]["end_to_end_us"]
    return Row(model, readings_per_s, expected_predictions - flooded["models"][model]["predictions"],
               e2e["p50"], e2e["p99"], flooded["process"]["peak_rss_bytes"] / 2**20)


def run(config: ThroughputBenchConfig) -> list[Row]:
    with tempfile.TemporaryDirectory() as tmp:
        broker = MosquittoBroker(Path(tmp) / "broker", extra_config=UNBOUNDED_BROKER).start()
        try:
            return [bench_model(broker, config, model, Path(tmp)) for model in config.models]
        finally:
            broker.stop()


def table(rows: list[Row], config: ThroughputBenchConfig) -> str:
    lines = [f"| model | readings/s (QoS 1, {config.readings:,} over {config.meters} meters) | lost | added latency p50 "
             f"µs at {config.rate:,.0f}/s | p99 µs | peak RSS MB |", "|---|---:|---:|---:|---:|---:|"]
    lines += [f"| {r.model} | {r.readings_per_s:,.0f} | {r.lost} | {r.e2e_p50_us:,.0f} | {r.e2e_p99_us:,.0f} | "
              f"{r.rss_mb:,.0f} |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    d = ThroughputBenchConfig()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assets", type=Path, default=d.assets, help="folder with manifest.json (default: %(default)s)")
    parser.add_argument("--models", default=",".join(d.models), help="models, one agent run each (default: %(default)s)")
    parser.add_argument("--readings", type=int, default=d.readings, help="readings in the flood (default: %(default)s)")
    parser.add_argument("--meters", type=int, default=d.meters, help="meters they come from (default: %(default)s)")
    parser.add_argument("--rate", type=float, default=d.rate, help="paced readings/s for latency (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=d.seconds, help="paced run length (default: %(default)s)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    config = ThroughputBenchConfig(args.assets, tuple(args.models.split(",")), args.readings, args.meters, args.rate,
                                   args.seconds)
    print(table(run(config), config))


if __name__ == "__main__":
    main()
