"""What the agent benchmarks share: synthetic readings, the replay's publisher that never drops, and the agent as
the demo runs it (:class:`simulator.agent_process.AgentProcess`, ``python device/agent.py`` as on a Pi) watched
through its metrics file and ``/proc``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from device.contract import MEASUREMENTS
from device.mqtt.settings import BrokerSettings
from device.wire import encode_reading, timestamps
from simulator.agent_process import AgentProcess, AgentRun
from simulator.brokers import MosquittoBroker
from simulator.publisher import AckingPublisher

#: The broker never drops: no queue limit for a slow subscriber, 100 unacknowledged messages in flight to it.
UNBOUNDED_BROKER = "max_queued_messages 0\nmax_inflight_messages 100\n"


def synthetic_payloads(count: int, meters: int) -> list[tuple[str, bytes]]:
    """Synthetic but plausible readings: a daily-shaped load, minute by minute, round-robin over meters."""
    per_meter = count // meters
    minutes = np.arange(per_meter, dtype=np.int64) + int(np.datetime64("2007-04-22T00:00", "m").astype(np.int64))
    gap = 1.0 + 0.8 * np.sin(np.arange(per_meter) * 2 * np.pi / 1440)
    values = {m: np.full(per_meter, 1.0) for m in MEASUREMENTS} | {"gap": gap}
    stamps = timestamps(minutes)
    return [
        (f"meter/b{k}/reading", encode_reading(str(stamps[i]), {m: values[m][i] for m in MEASUREMENTS}))
        for i in range(per_meter)
        for k in range(meters)
    ]


def vm_rss_bytes(pid: int) -> int:
    """Resident set size of a process now (``VmRSS`` in ``/proc/<pid>/status``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def bench_agent(
    broker: MosquittoBroker,
    assets: Path,
    models: tuple[str, ...],
    work: Path,
    extra_args: tuple[str, ...] = (),
    metrics_interval_s: float = 0.2,
    session_expiry_s: int = 0,
) -> AgentProcess:
    """The agent as :mod:`simulator.agent_process` runs it, quiet and unsampled (no tracemalloc, no predictions
    file), its files in ``work/<models>``; not started yet."""
    name = "-".join(models)
    return AgentProcess(
        AgentRun(
            BrokerSettings(broker.url),
            assets,
            models,
            work / name,
            agent_id=f"bench-{name}",
            metrics_interval_s=metrics_interval_s,
            session_expiry_s=session_expiry_s,
            write_predictions=False,
            extra_args=("--tracemalloc-readings", "0", "--log-level", "WARNING", *extra_args),
        )
    )


def publisher(broker: MosquittoBroker) -> AckingPublisher:
    """The meters' client: QoS 1, at most 100 in flight, an unbounded queue."""
    return AckingPublisher(BrokerSettings(broker.url), "bench-meters", max_inflight=100, max_queued=0)


def publish(
    client: AckingPublisher, messages: list[tuple[str, bytes]], rate: float | None, progress: bool = True
) -> None:
    """Every message at QoS 1 (never dropped), paced at ``rate``/s, or as fast as it goes; ``client.wait_all``
    then waits for their acknowledgements."""
    start = time.perf_counter()
    for i, (topic, payload) in enumerate(
        tqdm(messages, desc="publishing", leave=False, disable=None if progress else True)
    ):
        client.publish(topic, payload)
        if rate:
            delay = start + (i + 1) / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
