"""Readings/s through the 3-node NATS cluster (QoS 1, 3 replicas, one agent per partition) against one Mosquitto
(QoS 1, one agent), side by side in one run.

``python -m bench.cluster --help``. Per run and broker: start the broker(s) on free ports (``simulator.brokers``,
``simulator.nats_cluster``: deploy/nats's configs), start the agents as child processes (``python device/agent.py``,
MQTT 3.1.1, which NATS speaks) and wait until each is subscribed, then publish ``--meters`` x ``--readings`` real
readings at QoS 1 from ``--publishers`` connections at once (the meters split among them, as meters are separate
devices; a NATS node stores one connection's QoS 1 publishes one after the other) and measure
- publish: readings/s the broker acknowledged (PUBACK), each publisher bounded to 200 in flight;
- delivered: readings/s from the first publish until the agents had accepted every reading; lost is what they
  had not accepted by then (the most of any run; the run waits until they accepted all, or times out).
Prints a Markdown table of the medians over ``--runs`` and the cluster/Mosquitto ratio.
"""

from __future__ import annotations

import contextlib
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from device.models.manifest import DEFAULT_ASSETS
from device.mqtt.settings import BrokerSettings
from device.options import build_parser, option, parse_options
from simulator.brokers import MosquittoBroker
from simulator.fleet import FleetData, fleet_publisher
from simulator.nats_cluster import AGENT_USER, METER_USER, NatsCluster
from simulator.publisher import AckingPublisher

log = logging.getLogger(__name__)
AGENT = Path(__file__).resolve().parents[1] / "device" / "agent.py"
#: Mosquitto keeps every reading for a slow subscriber (no queue limit), like the cluster's JetStream streams.
UNBOUNDED_MOSQUITTO = "max_queued_messages 0\nmax_inflight_messages 200\n"
TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Run:
    """One broker's figures in one run."""

    publish_per_s: float
    delivered_per_s: float
    lost: int


@dataclass(frozen=True)
class ClusterBenchConfig:
    assets: Path = option(DEFAULT_ASSETS, "folder with manifest.json")
    models: tuple[str, ...] = option(("persistence",), "agent models")
    meters: int = option(200, "meters")
    readings: int = option(40, "readings per meter")
    agents: int = option(4, "cluster partitions, one agent each")
    publishers: int = option(8, "publisher connections, the meters split among them, spread over the nodes")
    runs: int = option(3, "runs per broker; the table shows medians")


class Agents:
    """The agent child processes of one run, watched through their metrics files and logs."""

    def __init__(self, work: Path, config: ClusterBenchConfig, commands: list[list[str]]) -> None:
        work.mkdir(parents=True, exist_ok=True)
        self.metrics = [work / f"agent{k}.metrics.json" for k in range(len(commands))]
        self.logs = [work / f"agent{k}.log" for k in range(len(commands))]
        self.processes = []
        for k, command in enumerate(commands):
            with self.logs[k].open("w") as out:
                self.processes.append(
                    subprocess.Popen(
                        [
                            sys.executable,
                            str(AGENT),
                            *command,
                            "--assets",
                            str(config.assets),
                            "--models",
                            ",".join(config.models),
                            "--agent-id",
                            f"bench{k}",
                            "--mqtt-version",
                            "3.1.1",
                            "--metrics-file",
                            str(self.metrics[k]),
                            "--metrics-interval-s",
                            "0.2",
                            "--no-ha-discovery",
                            "--tracemalloc-readings",
                            "0",
                            "--batch-predictions",
                        ],
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )
                )
        self._wait(lambda: all("subscribed to" in path.read_text() for path in self.logs), "the agents to subscribe")

    def _wait(self, done: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + TIMEOUT_S
        while not done():
            for process, path in zip(self.processes, self.logs):
                if process.poll() is not None:
                    raise RuntimeError(f"an agent exited: {path.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"timed out waiting for {what}")
            time.sleep(0.05)

    def accepted(self) -> int:
        total = 0
        for path in self.metrics:
            with contextlib.suppress(FileNotFoundError, json.JSONDecodeError):
                total += json.loads(path.read_text())["readings"]["accepted"]
        return total

    def wait_accepted(self, count: int) -> None:
        self._wait(lambda: self.accepted() >= count, f"{count} readings accepted")

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=60)


def by_publisher(messages: list[tuple[str, bytes]], publishers: int) -> list[list[tuple[str, bytes]]]:
    """Split the readings over the publishers, every meter on one (its readings stay in order), round-robin."""
    meters: dict[str, int] = {}
    shares: list[list[tuple[str, bytes]]] = [[] for _ in range(publishers)]
    for topic, payload in messages:
        shares[meters.setdefault(topic, len(meters) % publishers)].append((topic, payload))
    return shares


def measure(agents: Agents, publishers: list[AckingPublisher], messages: list[tuple[str, bytes]]) -> Run:
    """Every publisher sends its share at once, each in its own thread."""
    shares = by_publisher(messages, len(publishers))
    threads = [threading.Thread(target=p.publish_all, args=(share, TIMEOUT_S)) for p, share in zip(publishers, shares)]
    try:
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        published = time.perf_counter()
        agents.wait_accepted(len(messages))
        delivered = time.perf_counter()
    finally:
        for publisher in publishers:
            publisher.close()
        agents.stop()
    return Run(
        len(messages) / (published - start), len(messages) / (delivered - start), len(messages) - agents.accepted()
    )


def run_mosquitto(work: Path, config: ClusterBenchConfig, messages: list[tuple[str, bytes]]) -> Run:
    broker = MosquittoBroker(work / "mosquitto", extra_config=UNBOUNDED_MOSQUITTO).start()
    try:
        agents = Agents(work / "mosquitto-agents", config, [["--broker", broker.url]])
        settings = BrokerSettings(broker.url, mqtt_version="3.1.1", persistent_session=True)
        publishers = [fleet_publisher(settings, f"bench-meters{i}") for i in range(config.publishers)]
        return measure(agents, publishers, messages)
    finally:
        broker.stop()


def run_cluster(work: Path, config: ClusterBenchConfig, messages: list[tuple[str, bytes]]) -> Run:
    with NatsCluster(work / "nats", partitions=config.agents) as cluster:
        password = cluster.password_file(AGENT_USER)
        commands = [
            [
                "--broker",
                cluster.broker_list(k),
                "--partition",
                f"{k}/{config.agents}",
                "--username",
                AGENT_USER,
                "--password-file",
                str(password),
            ]
            for k in range(config.agents)
        ]
        agents = Agents(work / "nats-agents", config, commands)
        publishers = [
            fleet_publisher(cluster.settings(METER_USER, first=i), f"bench-meters{i}") for i in range(config.publishers)
        ]
        return measure(agents, publishers, messages)


def run(config: ClusterBenchConfig) -> str:
    messages = FleetData.bundled(config.meters, config.readings).messages()
    results: dict[str, list[Run]] = {"mosquitto": [], "nats": []}
    with tempfile.TemporaryDirectory(prefix="wattcast-bench-cluster-") as tmp:
        for i in range(config.runs):
            for name, runner in (("mosquitto", run_mosquitto), ("nats", run_cluster)):
                result = runner(Path(tmp) / f"{name}{i}", config, messages)
                log.info(
                    "run %d %s: publish %.0f/s, delivered %.0f/s",
                    i + 1,
                    name,
                    result.publish_per_s,
                    result.delivered_per_s,
                )
                results[name].append(result)
    return table(config, results)


def table(config: ClusterBenchConfig, results: dict[str, list[Run]]) -> str:
    def median(name: str, field: str) -> float:
        return statistics.median(getattr(r, field) for r in results[name])

    rows = [
        ("one Mosquitto, QoS 1, 1 agent", "mosquitto"),
        (f"3-node NATS cluster, QoS 1, 3 replicas, {config.agents} agents (one per partition)", "nats"),
    ]
    lines = [
        f"{config.meters} meters x {config.readings} readings = {config.meters * config.readings:,} readings, "
        f"models {','.join(config.models)}, {config.publishers} publishers; medians of {config.runs} runs",
        "",
        "| broker | published readings/s (PUBACK) | delivered readings/s (all accepted by the agents) | lost |",
        "|---|---:|---:|---:|",
    ]
    for label, name in rows:
        lines.append(
            f"| {label} | {median(name, 'publish_per_s'):,.0f} | {median(name, 'delivered_per_s'):,.0f} "
            f"| {max(r.lost for r in results[name])} |"
        )

    def ratio(field: str) -> float:
        return median("nats", field) / median("mosquitto", field)

    lines.append(f"| cluster / Mosquitto | {ratio('publish_per_s'):.2f}x | {ratio('delivered_per_s'):.2f}x | |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(ClusterBenchConfig, "python -m bench.cluster", __doc__.split("\n\n")[0], log_level=None)
    config = parse_options(ClusterBenchConfig, argv, parser)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(run(config))
    return 0


if __name__ == "__main__":
    sys.exit(main())
