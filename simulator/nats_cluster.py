"""A real 3-node nats-server cluster on free loopback ports, for the fleet tests and ``bench.cluster``.

It runs the very configs of ``deploy/nats/`` (``node.conf`` with its per-node environment, ``accounts.conf``
rendered from the template with the partition count), each node stopped by its PID, never by name; one node can be
stopped (SIGTERM or SIGKILL) and started again. A missing ``nats-server`` raises
:class:`~simulator.brokers.BinaryMissing` (a skip in the tests, a failure under CI).

The partition a meter lands in is FNV-1a-32 of its id mod N, as NATS's ``{{partition(N,1)}}`` mapping computes it:
:func:`partition_of` is that hash, for the tests and the benchmark to predict where each meter goes.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from device.mqtt.settings import BrokerSettings
from simulator.brokers import find_binary, free_port, stop_process, wait_for_port

DEPLOY = Path(__file__).resolve().parents[1] / "deploy" / "nats"
HOST = "127.0.0.1"
NODES = 3
AGENT_USER = "agent"
METER_USER = "meter"
_READY_TIMEOUT_S = 30.0


def fnv1a_32(text: str) -> int:
    """FNV-1a, 32 bits, over the UTF-8 bytes (the hash of NATS's partition mapping)."""
    h = 0x811C9DC5
    for byte in text.encode():
        h = ((h ^ byte) * 0x01000193) & 0xFFFFFFFF
    return h


def partition_of(meter: str, partitions: int) -> int:
    """The partition NATS maps ``meter/<meter>/reading`` to."""
    return fnv1a_32(meter) % partitions


def render_configs(workdir: Path, partitions: int) -> Path:
    """Copy ``deploy/nats/node.conf`` into ``workdir`` with its ``accounts.conf`` for ``partitions``; returns the
    node config's path (the same rendering start-cluster.sh does with sed)."""
    workdir.mkdir(parents=True, exist_ok=True)
    template = (DEPLOY / "accounts.conf.template").read_text()
    (workdir / "accounts.conf").write_text(template.replace("@PARTITIONS@", str(partitions)))
    return Path(shutil.copy(DEPLOY / "node.conf", workdir / "node.conf"))


@dataclass
class NatsNode:
    """One node's ports and process."""

    name: str
    client_port: int = field(default_factory=free_port)
    mqtt_port: int = field(default_factory=free_port)
    route_port: int = field(default_factory=free_port)
    http_port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def mqtt_url(self) -> str:
        return f"mqtt://{HOST}:{self.mqtt_port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None


@dataclass
class NatsCluster:
    """Three nodes of ``deploy/nats``; use as a context manager so every node is stopped."""

    workdir: Path
    partitions: int = 4
    ack_wait: str = "30s"
    consumer_replicas: int = 3
    agent_password: str = "agent-secret"
    meter_password: str = "meter-secret"
    nodes: list[NatsNode] = field(default_factory=lambda: [NatsNode(f"n{i + 1}") for i in range(NODES)])

    @property
    def mqtt_urls(self) -> list[str]:
        return [node.mqtt_url for node in self.nodes]

    def broker_list(self, first: int = 0) -> str:
        """The agent's ``--broker`` value: every node, comma-separated, starting at node ``first`` (agents that
        start at different nodes spread the load)."""
        urls = self.mqtt_urls
        first %= len(urls)
        return ",".join(urls[first:] + urls[:first])

    def password_file(self, user: str) -> Path:
        """A file in the work folder holding ``user``'s password (passwords never go on a command line)."""
        path = self.workdir / f"{user}.password"
        path.write_text({AGENT_USER: self.agent_password, METER_USER: self.meter_password}[user] + "\n")
        return path

    def settings(self, user: str, first: int = 0) -> BrokerSettings:
        """How a simulator client reaches the cluster as ``user``: every node in :meth:`broker_list` order, MQTT
        3.1.1 (all NATS speaks) with a persistent session."""
        return BrokerSettings(
            self.broker_list(first),
            mqtt_version="3.1.1",
            username=user,
            password_file=self.password_file(user),
            persistent_session=True,
        )

    def _env(self, node: NatsNode) -> dict[str, str]:
        routes = {
            f"WATTCAST_NATS_ROUTE_{i + 1}": f"nats-route://{HOST}:{n.route_port}" for i, n in enumerate(self.nodes)
        }
        return {
            **os.environ,
            **routes,
            "WATTCAST_NATS_NAME": node.name,
            "WATTCAST_NATS_HOST": HOST,
            "WATTCAST_NATS_CLIENT_PORT": str(node.client_port),
            "WATTCAST_NATS_MQTT_PORT": str(node.mqtt_port),
            "WATTCAST_NATS_ROUTE_PORT": str(node.route_port),
            "WATTCAST_NATS_HTTP_PORT": str(node.http_port),
            "WATTCAST_NATS_STORE_DIR": str(self.workdir / node.name),
            "WATTCAST_NATS_ACK_WAIT": self.ack_wait,
            "WATTCAST_NATS_CONSUMER_REPLICAS": str(self.consumer_replicas),
            "WATTCAST_NATS_AGENT_PASSWORD": self.agent_password,
            "WATTCAST_NATS_METER_PASSWORD": self.meter_password,
        }

    def start(self) -> NatsCluster:
        binary = find_binary("nats-server")
        config = render_configs(self.workdir, self.partitions)
        for node in self.nodes:
            self._launch(binary, config, node)
        try:
            for node in self.nodes:
                self._wait_ready(node)
        except (TimeoutError, RuntimeError):
            self.stop()
            raise
        return self

    def _launch(self, binary: str, config: Path, node: NatsNode) -> None:
        log_path = self.workdir / f"{node.name}.log"
        node.process = subprocess.Popen(
            [binary, "-c", str(config), "-l", str(log_path)],
            env=self._env(node),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )

    def _wait_ready(self, node: NatsNode) -> None:
        """Until the node listens for MQTT and knows the JetStream meta leader (then MQTT sessions can be made)."""
        deadline = time.monotonic() + _READY_TIMEOUT_S
        wait_for_port(node.mqtt_port, _READY_TIMEOUT_S)
        while time.monotonic() < deadline:
            if not node.running:
                raise RuntimeError(f"nats-server {node.name} exited: {self.log(node)[-2000:]}")
            try:
                with urllib.request.urlopen(f"http://{HOST}:{node.http_port}/jsz", timeout=1) as reply:
                    if json.load(reply).get("meta_cluster", {}).get("leader"):
                        return
            except OSError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"nats-server {node.name}: no JetStream meta leader within {_READY_TIMEOUT_S:.0f} s")

    def log(self, node: NatsNode) -> str:
        path = self.workdir / f"{node.name}.log"
        return path.read_text() if path.exists() else ""

    def stop_node(self, index: int, sig: int = signal.SIGTERM) -> None:
        """Stop one node by its PID (SIGKILL if it ignores ``sig`` for 15 s)."""
        node = self.nodes[index]
        if node.process is not None:
            stop_process(node.process, sig, timeout_s=15)
        node.process = None

    def start_node(self, index: int) -> None:
        """Start a stopped node again (same ports, same store) and wait until it is ready."""
        node = self.nodes[index]
        self._launch(find_binary("nats-server"), self.workdir / "node.conf", node)
        self._wait_ready(node)

    def stop(self) -> None:
        for index in range(len(self.nodes)):
            self.stop_node(index)

    def __enter__(self) -> NatsCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
