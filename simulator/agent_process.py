"""The device agent as a child process of the demo: started with every model, watched through its metrics file,
stopped by its own PID so that it writes its final metrics on the way out.

The agent is run exactly as on a Pi (``python device/agent.py ...``), so the demo measures the real thing.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from simulator.connection import BrokerSettings

log = logging.getLogger(__name__)
AGENT_SCRIPT = Path(__file__).resolve().parents[1] / "device" / "agent.py"
POLL_S = 0.25


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
        # The demo may run against someone's real broker on localhost:1883: no Home Assistant discovery, and no
        # session left behind that would queue the next run's readings for an agent that is gone. The replay's
        # naive stamps are the data file's own clock: read as UTC they keep it (and its calendar features) as
        # trained, on any machine, with no DST hour skipped or repeated.
        return [
            sys.executable, str(AGENT_SCRIPT), "--broker", self.broker.url, "--mqtt-version", self.broker.mqtt_version,
            "--assets", str(self.assets), "--models", ",".join(self.models), "--agent-id", self.agent_id,
            "--topic-prefix", self.topic_prefix,
            "--metrics-file", str(self.metrics_file), "--predictions-file", str(self.predictions_file),
            "--metrics-interval-s", str(self.metrics_interval_s), "--no-ha-discovery", "--session-expiry-s", "0",
            "--timezone", "UTC",
        ]


class AgentProcess:
    """A running agent; use as a context manager so it is always stopped."""

    def __init__(self, run: AgentRun) -> None:
        self.run = run
        self.process: subprocess.Popen | None = None

    def start(self, timeout_s: float = 60.0) -> AgentProcess:
        """Start the agent and return once it announced itself online (it subscribes before that)."""
        self.run.work_dir.mkdir(parents=True, exist_ok=True)
        for stale in (self.run.metrics_file, self.run.predictions_file):
            stale.unlink(missing_ok=True)
        online = _StatusWatch(self.run.broker, self.run.status_topic, f"{self.run.agent_id}-watch")
        try:
            with self.run.log_file.open("w") as log_file:
                self.process = subprocess.Popen(self.run.command(), stdout=log_file, stderr=subprocess.STDOUT,
                                                env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
            log.info("agent started (pid %d), log in %s", self.process.pid, self.run.log_file)
            deadline = time.monotonic() + timeout_s
            while not online.event.wait(POLL_S):
                self._check_alive()
                if time.monotonic() > deadline:
                    raise TimeoutError(f"agent did not come online within {timeout_s:.0f} s; see {self.run.log_file}")
        finally:
            online.close()
        return self

    def _check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(f"agent exited with code {self.process.returncode}; its log:\n"
                               + self.run.log_file.read_text()[-3000:])

    def metrics(self) -> dict[str, Any] | None:
        """The agent's latest metrics snapshot, or None before it wrote one (or while it is being replaced)."""
        try:
            return json.loads(self.run.metrics_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def received(self) -> int:
        """Readings the agent has taken so far, by its latest metrics; raises if the agent died."""
        self._check_alive()
        snapshot = self.metrics()
        return int(snapshot["readings"]["received"]) if snapshot else 0

    def wait_until_received(self, count: int, timeout_s: float) -> None:
        """Poll the metrics file until the agent has received ``count`` readings."""
        deadline = time.monotonic() + timeout_s
        while (received := self.received()) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"agent received {received} of {count} readings within {timeout_s:.0f} s")
            time.sleep(POLL_S)

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM by PID (the agent then writes its final metrics), SIGKILL if it hangs; the exit code."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("agent ignored SIGTERM for %.0f s: killing pid %d", timeout_s, self.process.pid)
                self.process.kill()
                self.process.wait()
        code, self.process = self.process.returncode, None
        return code

    def __enter__(self) -> AgentProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class _StatusWatch:
    """Subscribes to the agent's retained status topic and sets :attr:`event` when it says ``online``."""

    def __init__(self, broker: BrokerSettings, topic: str, client_id: str) -> None:
        self.event = threading.Event()
        self.client = broker.client(client_id)
        self.client.on_connect = lambda client, *_: client.subscribe(topic, qos=1)
        self.client.on_message = lambda _c, _u, message: message.payload == b"online" and self.event.set()
        self.client.connect_async(broker.host, broker.port)
        self.client.loop_start()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
