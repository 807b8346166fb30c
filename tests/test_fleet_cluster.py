"""The fleet on a real 3-node NATS cluster (deploy/nats's configs, nats-server processes started and stopped by PID):
200 meters partitioned by FNV-1a over 4 agents, an agent killed and restarted, a node SIGTERMed."""

from __future__ import annotations

import csv
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from device.agent import Agent
from device.config import AgentConfig
from device.readings import parse_minute
from simulator.fleet import FleetData, fleet_publisher
from simulator.nats_cluster import AGENT_USER, METER_USER, NatsCluster, partition_of
from simulator.publisher import AckingPublisher
from tests.device_assets import Series, build_assets

pytestmark = pytest.mark.slow
log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[1]
PARTITIONS = 4
METERS = 200
MODEL = "persistence"
TIMEOUT_S = 60.0
ACK_WAIT_S = 3


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    # A short ack_wait, so readings a killed agent held unacknowledged come back within the test.
    with NatsCluster(tmp_path_factory.mktemp("nats"), partitions=PARTITIONS, ack_wait=f"{ACK_WAIT_S}s") as cluster:
        yield cluster


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> Path:
    return build_assets(tmp_path_factory.mktemp("assets"), Series.bundled())


def start_agents(cluster: NatsCluster, assets: Path, name: str, partitions: range = range(PARTITIONS)) -> list[Agent]:
    """In-process agents for ``partitions``, each subscribed before this returns."""
    agents = [
        Agent(
            AgentConfig(
                broker=cluster.broker_list(k),
                mqtt_version="3.1.1",
                partition=f"{k}/{PARTITIONS}",
                username=AGENT_USER,
                password=cluster.agent_password,
                agent_id=f"{name}{k}",
                assets=assets,
                models=(MODEL,),
                ha_discovery=False,
                tracemalloc_readings=0,
                batch_predictions=True,
            )
        ).start()
        for k in partitions
    ]
    for agent in agents:  # a reading published before its subscription exists would be dropped by NATS
        assert agent.link.subscribed.wait(TIMEOUT_S), agent.failure
    return agents


def publisher(cluster: NatsCluster, name: str) -> AckingPublisher:
    """The meters, connected to the last node first."""
    return fleet_publisher(cluster.settings(METER_USER, first=-1), name)


def wait_for(predicate, what: str, timeout_s: float = TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.1)


def accepted(agents: list[Agent]) -> int:
    return sum(a.metrics.readings["accepted"] for a in agents)


def test_each_meter_is_forecast_by_exactly_one_agent_the_one_of_its_fnv1a_partition(cluster, assets):
    readings = 12
    data = FleetData.bundled(METERS, readings)
    agents = start_agents(cluster, assets, "part")
    pub = publisher(cluster, "meters-part")
    assert pub.publish_all(data.messages(), TIMEOUT_S) == METERS * readings
    wait_for(lambda: accepted(agents) >= METERS * readings, "every reading")
    snapshots = [agent.stop() for agent in agents]
    pub.close()
    for k, snapshot in enumerate(snapshots):
        mine = {m for m in data.meter_ids if partition_of(m, PARTITIONS) == k}
        assert set(snapshot["meters"]) == mine
        assert snapshot["readings"]["accepted"] == readings * len(mine) and snapshot["readings"]["duplicates"] == 0
        # the first reading only starts the window, and a forecast is 5 minutes ahead: 6 scored per meter
        assert {s[MODEL]["scored"] for s in snapshot["meters"].values()} == {readings - 1 - 5}
    assert sum(len(s["meters"]) for s in snapshots) == METERS


class AgentChild:
    """``python device/agent.py`` for partition 0, exactly as on a server; killed and restarted by its PID."""

    def __init__(self, cluster: NatsCluster, assets: Path, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        password = workdir / "password"
        password.write_text(cluster.agent_password + "\n")
        self.workdir = workdir
        self.state_file = workdir / "state.json"
        self.metrics_file = workdir / "metrics.json"
        self.command = [
            sys.executable,
            str(REPO / "device" / "agent.py"),
            "--broker",
            cluster.broker_list(),
            "--mqtt-version",
            "3.1.1",
            "--partition",
            f"0/{PARTITIONS}",
            "--username",
            AGENT_USER,
            "--password-file",
            str(password),
            "--agent-id",
            "restarted0",
            "--assets",
            str(assets),
            "--models",
            MODEL,
            "--no-ha-discovery",
            "--tracemalloc-readings",
            "0",
            "--batch-predictions",
            "--state-file",
            str(self.state_file),
            "--state-interval-s",
            "1",
            "--metrics-file",
            str(self.metrics_file),
            "--metrics-interval-s",
            "0.3",
        ]
        self.process: subprocess.Popen | None = None
        self.runs = 0

    @property
    def log_path(self) -> Path:
        return self.workdir / f"agent{self.runs}.log"

    @property
    def predictions_path(self) -> Path:
        return self.workdir / f"predictions{self.runs}.csv"

    def start(self) -> None:
        self.runs += 1
        self.metrics_file.unlink(missing_ok=True)
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                [*self.command, "--predictions-file", str(self.predictions_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONPATH": str(REPO)},
            )
        wait_for(lambda: self._alive() and "subscribed to" in self.log_path.read_text(), "the agent to subscribe")

    def _alive(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"agent exited ({self.process.returncode}): {self.log_path.read_text()[-2000:]}")
        return True

    def metrics(self) -> dict:
        try:
            return json.loads(self.metrics_file.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {"readings": {"accepted": 0}}

    def state(self) -> dict:
        """The agent's saved forecaster state (the body after the sha256 line)."""
        try:
            return json.loads(self.state_file.read_bytes().partition(b"\n")[2])["forecaster"]
        except (FileNotFoundError, json.JSONDecodeError):
            return {"meters": {}}

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(sig)
            self.process.wait(timeout=30)


def test_an_agent_killed_mid_stream_and_restarted_loses_nothing_and_rescores_the_minutes_it_filled(
    cluster, assets, tmp_path
):
    readings = 20
    data = FleetData.bundled(METERS, readings)
    mine = [m for m in data.meter_ids if partition_of(m, PARTITIONS) == 0]
    last_minute = int(data.minutes[-1])
    child = AgentChild(cluster, assets, tmp_path / "agent")  # partition 0, the one killed
    child.start()
    others = start_agents(cluster, assets, "kill", range(1, PARTITIONS))
    pub = publisher(cluster, "meters-kill")
    sending = threading.Thread(target=pub.publish_all, args=(data.messages(), TIMEOUT_S))
    sending.start()
    wait_for(lambda: child.metrics()["readings"]["accepted"] >= 10 * len(mine), "the agent to be mid-stream")
    child.stop(signal.SIGKILL)  # it holds readings it took but had not saved, so never acknowledged
    child.start()  # the same session and state file; NATS resends the unacknowledged ones after ack_wait
    sending.join()
    pub.close()

    def caught_up() -> bool:
        meters = child.state()["meters"]
        return all(
            m in meters and meters[m]["stream"]["last_minute"] == last_minute and not meters[m]["stream"]["filled_rows"]
            for m in mine
        )

    wait_for(caught_up, "every minute of every meter to arrive")
    child.stop()
    wait_for(lambda: accepted(others) >= (METERS - len(mine)) * readings, "the other partitions")
    assert [a.stop()["readings"]["accepted"] for a in others] == [
        readings * sum(partition_of(m, PARTITIONS) == k for m in data.meter_ids) for k in range(1, PARTITIONS)
    ]
    state = child.state()["meters"]
    for meter in mine:
        stream = state[meter]["stream"]
        assert len(stream["received"]) == readings  # 0 lost: every minute of the meter arrived
        assert state[meter]["tracks"][MODEL]["on_filled"] == []  # nothing is left scored against a filled value
    final = json.loads(child.metrics_file.read_text())
    log.info(
        "agent killed and restarted: readings %s, model %s",
        final["readings"],
        {k: final["models"][MODEL][k] for k in ("predictions", "scored", "rescored", "forecasts_from_filled_input")},
    )
    assert final["readings"]["refilled"] > 0  # the resends came after newer minutes, and replaced the filled ones
    assert final["models"][MODEL]["rescored"] > 0
    assert final["models"][MODEL]["forecasts_from_filled_input"] > 0  # published before the real value came
    real = {meter: data.gap(meter) for meter in mine}
    with child.predictions_path.open() as f:
        scored = [row for row in csv.DictReader(f) if row["actual"]]
    last_scoring = {(row["meter"], row["target_ts"]): float(row["actual"]) for row in scored}  # re-scorings last
    assert last_scoring and all(
        actual == pytest.approx(real[meter][parse_minute(ts)], abs=1e-6) for (meter, ts), actual in last_scoring.items()
    )


def test_an_agent_whose_subscription_is_refused_exits_with_the_reason(cluster, assets, tmp_path):
    password = tmp_path / "password"
    password.write_text(cluster.meter_password + "\n")  # the meters' login: NATS refuses any subscription of theirs
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "device" / "agent.py"),
            "--broker",
            cluster.broker_list(),
            "--mqtt-version",
            "3.1.1",
            "--partition",
            f"0/{PARTITIONS}",
            "--username",
            METER_USER,
            "--password-file",
            str(password),
            "--agent-id",
            "refused0",
            "--assets",
            str(assets),
            "--models",
            MODEL,
            "--no-ha-discovery",
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert done.returncode == 2
    assert "cannot start: broker 127.0.0.1" in done.stderr
    assert "refused the subscription to part/0/meter/+/reading" in done.stderr


def test_a_node_sigtermed_mid_stream_its_agents_fail_over_and_nothing_is_lost(cluster, assets):
    readings = 10
    data = FleetData.bundled(METERS, readings)
    agents = start_agents(cluster, assets, "failover")
    pub = publisher(cluster, "meters-failover")  # connected to the last node: the meters keep publishing
    sending = threading.Thread(target=pub.publish_all, args=(data.messages(), TIMEOUT_S))
    sending.start()
    wait_for(lambda: accepted(agents) >= METERS * readings // 4, "a quarter of the readings")
    cluster.stop_node(0, signal.SIGTERM)
    sending.join()
    pub.close()
    wait_for(lambda: accepted(agents) >= METERS * readings, "every reading")
    snapshots = [agent.stop() for agent in agents]
    log.info(
        "node SIGTERM: per agent readings %s, publish %s",
        [s["readings"] for s in snapshots],
        [s["publish"] for s in snapshots],
    )
    cluster.start_node(0)
    on_first_node = [k for k in range(PARTITIONS) if k % len(cluster.nodes) == 0]
    assert all(snapshots[k]["publish"]["failovers"] >= 1 for k in on_first_node)
    for k, snapshot in enumerate(snapshots):
        mine = [m for m in data.meter_ids if partition_of(m, PARTITIONS) == k]
        assert snapshot["readings"]["accepted"] == readings * len(mine)  # 0 lost, each minute taken once
        assert snapshot["readings"]["late"] == 0
