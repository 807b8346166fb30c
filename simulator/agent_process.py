"""The device agent as a child process of the demo, the fault tests and the benchmarks: watched through its metrics
file, stopped by its own PID so that it writes its final metrics on the way out.

The agent is run exactly as on a Pi (``python device/agent.py ...``), so what is measured is the real thing.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from device.mqtt.client import make_client
from device.mqtt.settings import BrokerSettings
from simulator.brokers import stop_process
from simulator.publisher import AckingPublisher

log = logging.getLogger(__name__)
AGENT_SCRIPT = Path(__file__).resolve().parents[1] / "device" / "agent.py"
POLL_S = 0.25
#: Not a reading (the agent rejects it as not_json), for :meth:`AgentProcess.wait_for_end_marker`.
END_MARKER = b"end of stream"


@dataclass(frozen=True)
class AgentRun:
    """How to start one agent and where it leaves its files."""

    broker: BrokerSettings
    assets: Path
    models: tuple[str, ...]
    work_dir: Path
    agent_id: str = "demo"
    #: Readings arrive on <topic_prefix>/<meter>/reading (the demo adds its run id, so runs never mix).
    topic_prefix: str = "meter"
    #: Often, because the demo paces the replay by the agent's received count in this file.
    metrics_interval_s: float = 0.5
    #: 0: no session is left behind at the broker; a deployed agent keeps one (and its queue) while it is away.
    session_expiry_s: int = 0
    #: Off for the benchmarks: a CSV row per prediction would be part of what they time.
    write_predictions: bool = True
    extra_args: tuple[str, ...] = ()  # any other agent options, e.g. ("--runtime", "tflm")

    @property
    def metrics_file(self) -> Path:
        return self.work_dir / "agent_metrics.json"

    @property
    def predictions_file(self) -> Path:
        return self.work_dir / "agent_predictions.csv"

    @property
    def log_file(self) -> Path:
        return self.work_dir / "agent.log"

    @property
    def status_topic(self) -> str:
        return f"devices/{self.agent_id}/status"

    def command(self) -> list[str]:
        # The demo may run against someone's real broker on localhost:1883: no Home Assistant discovery, and by
        # default no session left behind that would queue the next run's readings for an agent that is gone. The
        # replay's naive stamps are the data file's own clock: read as UTC they keep it (and its calendar features)
        # as trained, on any machine, with no DST hour skipped or repeated.
        predictions = ["--predictions-file", str(self.predictions_file)] if self.write_predictions else []
        return [
            sys.executable,
            str(AGENT_SCRIPT),
            "--broker",
            self.broker.url,
            "--mqtt-version",
            self.broker.mqtt_version,
            "--assets",
            str(self.assets),
            "--models",
            ",".join(self.models),
            "--agent-id",
            self.agent_id,
            "--topic-prefix",
            self.topic_prefix,
            "--timezone",
            "UTC",
            "--metrics-file",
            str(self.metrics_file),
            *predictions,
            "--metrics-interval-s",
            str(self.metrics_interval_s),
            "--no-ha-discovery",
            "--session-expiry-s",
            str(self.session_expiry_s),
            *self.extra_args,
        ]


class AgentProcess:
    """A running agent; use as a context manager so it is always stopped."""

    def __init__(self, run: AgentRun) -> None:
        self.run = run
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 60.0, wait_online: bool = True) -> AgentProcess:
        """Start the agent and return once it announced itself online (it subscribes before that), or at once
        without ``wait_online``."""
        self.run.work_dir.mkdir(parents=True, exist_ok=True)
        for stale in (self.run.metrics_file, self.run.predictions_file):
            stale.unlink(missing_ok=True)
        online = _StatusWatch(self.run.broker, self.run.status_topic, f"{self.run.agent_id}-watch")
        try:
            with self.run.log_file.open("w") as log_file:
                self.process = subprocess.Popen(
                    self.run.command(),
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                    env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
                )
            log.info("agent started (pid %d), log in %s", self.process.pid, self.run.log_file)
            deadline = time.monotonic() + timeout_s
            while wait_online and not online.event.wait(POLL_S):
                self._check_alive()
                if time.monotonic() > deadline:
                    raise TimeoutError(f"agent did not come online within {timeout_s:.0f} s; see {self.run.log_file}")
        finally:
            online.close()
        return self

    def _check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(
                f"agent exited with code {self.process.returncode}; its log:\n" + self.run.log_file.read_text()[-3000:]
            )

    def metrics(self) -> dict[str, Any] | None:
        """The agent's latest metrics snapshot, or None before it wrote one (or while it is being replaced)."""
        try:
            return json.loads(self.run.metrics_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    @property
    def pid(self) -> int:
        """The running agent's process id; raises RuntimeError when it is not running."""
        if self.process is None:
            raise RuntimeError("the agent is not running: start it first")
        return self.process.pid

    def received(self, counter: str = "received") -> int:
        """Readings the agent has taken so far (or another of its ``readings`` counters, e.g. ``accepted``), by its
        latest metrics; raises if the agent died."""
        self._check_alive()
        return _count(self.metrics(), counter)

    def wait_until_received(
        self, count: int, timeout_s: float, counter: str = "received", poll_s: float = POLL_S
    ) -> dict[str, Any]:
        """Poll the metrics file until the agent's ``counter`` reached ``count``; returns that snapshot."""
        deadline = time.monotonic() + timeout_s
        while True:
            self._check_alive()
            snapshot = self.metrics()
            received = _count(snapshot, counter)
            if snapshot is not None and received >= count:
                return snapshot
            if time.monotonic() > deadline:
                raise TimeoutError(f"agent {counter} {received} of {count} readings within {timeout_s:.0f} s")
            time.sleep(poll_s)

    def rejected(self, reason: str) -> int:
        """Messages the agent rejected for ``reason`` so far, by its latest metrics."""
        return int(((self.metrics() or {}).get("rejected") or {}).get(reason, 0))

    def wait_for_end_marker(self, publisher: AckingPublisher, timeout_s: float) -> None:
        """Publish :data:`END_MARKER` as meter ``end``'s reading and wait until the agent rejected it. Its session is
        one queue delivered in order, so then everything published before has arrived: a barrier instead of waiting a
        while for what might still come."""
        before = self.rejected("not_json")
        publisher.publish(f"{self.run.topic_prefix}/end/reading", END_MARKER)
        deadline = time.monotonic() + timeout_s
        while self.rejected("not_json") <= before:
            self._check_alive()
            if time.monotonic() > deadline:
                raise TimeoutError(f"the agent did not reject the end marker within {timeout_s:.0f} s")
            time.sleep(min(POLL_S, self.run.metrics_interval_s))

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM by PID (the agent then writes its final metrics), SIGKILL if it hangs; the exit code."""
        if self.process is None:
            return None
        code, self.process = stop_process(self.process, timeout_s=timeout_s), None
        return code

    def __enter__(self) -> AgentProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _count(snapshot: dict[str, Any] | None, counter: str) -> int:
    """One of the ``readings`` counters of a metrics snapshot, 0 before the agent wrote one."""
    return int(snapshot["readings"][counter]) if snapshot else 0


class _StatusWatch:
    """Subscribes to the agent's retained status topic and sets :attr:`event` when it says ``online``."""

    def __init__(self, broker: BrokerSettings, topic: str, client_id: str) -> None:
        self.event = threading.Event()
        self.client = make_client(broker, client_id)
        self.client.on_connect = lambda client, *_: client.subscribe(topic, qos=1)
        self.client.on_message = self._on_message
        self.client.connect_async(broker.host, broker.port)
        self.client.loop_start()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.payload == b"online":
            self.event.set()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
