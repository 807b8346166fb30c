"""What the agent benchmarks share: synthetic readings, a publisher that never drops, and the agent as a child
process (``python device/agent.py``, as on a Pi) watched through its metrics file and ``/proc``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from tqdm import tqdm

from device.contract import MEASUREMENTS
from device.payload import encode_reading, timestamps
from simulator.brokers import MosquittoBroker

AGENT = Path(__file__).resolve().parents[1] / "device" / "agent.py"
#: The broker never drops: no queue limit for a slow subscriber, 100 unacknowledged messages in flight to it.
UNBOUNDED_BROKER = "max_queued_messages 0\nmax_inflight_messages 100\n"


def synthetic_payloads(count: int, meters: int) -> list[tuple[str, bytes]]:
    """Synthetic but plausible readings: a daily-shaped load, minute by minute, round-robin over meters."""
    per_meter = count // meters
    minutes = np.arange(per_meter, dtype=np.int64) + int(np.datetime64("2007-04-22T00:00", "m").astype(np.int64))
    gap = 1.0 + 0.8 * np.sin(np.arange(per_meter) * 2 * np.pi / 1440)
    values = {m: np.full(per_meter, 1.0) for m in MEASUREMENTS} | {"gap": gap}
    stamps = timestamps(minutes)
    return [(f"meter/b{k}/reading", encode_reading(str(stamps[i]), {m: values[m][i] for m in MEASUREMENTS}))
            for i in range(per_meter) for k in range(meters)]


def vm_rss_bytes(pid: int) -> int:
    """Resident set size of a process now (``VmRSS`` in ``/proc/<pid>/status``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


class AgentChild:
    """``python device/agent.py`` running ``models`` against ``broker``, with its metrics file in ``work``."""

    def __init__(self, broker: MosquittoBroker, assets: Path, models: tuple[str, ...], work: Path,
                 extra_args: tuple[str, ...] = ()) -> None:
        name = "-".join(models)
        self.metrics_file = work / f"{name}.metrics.json"
        self.metrics_file.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [sys.executable, str(AGENT), "--broker", broker.url, "--assets", str(assets), "--models", ",".join(models),
             "--agent-id", f"bench-{name}", "--metrics-file", str(self.metrics_file), "--metrics-interval-s", "0.2",
             "--no-ha-discovery", "--session-expiry-s", "0", "--tracemalloc-readings", "0", "--log-level", "WARNING",
             *extra_args])

    def metrics(self) -> dict | None:
        try:
            return json.loads(self.metrics_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def rss_bytes(self) -> int:
        return vm_rss_bytes(self.process.pid)

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

    def stop(self, timeout_s: float = 60.0) -> dict:
        """SIGTERM (the agent handles its inbox, then writes its final metrics), SIGKILL if it takes too long."""
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        return self.metrics()


def publisher(broker: MosquittoBroker) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-meters")
    client.max_inflight_messages_set(100)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    return client


def publish(client: mqtt.Client, messages: list[tuple[str, bytes]], rate: float | None,
            progress: bool = True) -> mqtt.MQTTMessageInfo | None:
    """QoS 1, waiting (never dropping) while paho's queue is full; paced at ``rate``/s, or as fast as it goes.
    Returns the last message's info: once it is acknowledged, so are the others (QoS 1 keeps their order)."""
    start = time.perf_counter()
    info = None
    for i, (topic, payload) in enumerate(tqdm(messages, desc="publishing", leave=False, disable=None if progress else True)):
        while (info := client.publish(topic, payload, qos=1)).rc == mqtt.MQTT_ERR_QUEUE_SIZE:
            time.sleep(0.001)
        if rate:
            delay = start + (i + 1) / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
    return info
