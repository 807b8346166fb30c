"""Faults injected into a real Mosquitto, the real agent process and the replay simulator: nothing is lost.

Every broker here runs with persistence and is stopped and restarted by PID; the agent runs as on a Pi
(``python device/agent.py``) with a fixed client id and a persistent session (``--session-expiry-s 3600``).
The figures these tests measure are the ones in the README's Reliability section.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from simulator.agent_process import AgentProcess, AgentRun
from simulator.connection import BrokerSettings
from simulator.replay import ReplayConfig, ReplayResult, replay
from tests.brokers import MosquittoBroker
from tests.device_assets import Series, build_assets
from train.data import load_measurements

log = logging.getLogger(__name__)
DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
BUNDLED = Path(__file__).resolve().parents[1] / "data" / "household_power_14d.txt"
WAIT_S = 45.0


def shipped_reliability_settings() -> str:
    """deploy/mosquitto.conf without what the test harness owns (listener, paths, logging)."""
    harness_owned = ("listener", "allow_anonymous", "persistence_location", "log_dest", "log_type")
    return "".join(line + "\n" for line in (DEPLOY / "mosquitto.conf").read_text().splitlines()
                   if not line.startswith(harness_owned))


@dataclass(frozen=True)
class PersistentAgentRun(AgentRun):
    """The demo's agent run, but keeping its session at the broker like a deployed agent does."""

    def command(self) -> list[str]:
        return super().command() + ["--session-expiry-s", "3600"]  # the last value of an option wins


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> Path:
    return build_assets(tmp_path_factory.mktemp("assets"), Series.bundled())


def start_broker(tmp_path: Path, config: str) -> MosquittoBroker:
    return MosquittoBroker(tmp_path / "broker", extra_config=config).start()


def agent_for(broker: MosquittoBroker, assets: Path, work_dir: Path) -> AgentProcess:
    return AgentProcess(PersistentAgentRun(BrokerSettings(broker.url), assets, ("linreg", "persistence"), work_dir,
                                           agent_id="faulty", metrics_interval_s=0.2))


def replay_rows(broker: MosquittoBroker, rows: int, meters: int = 1, client_id: str = "replay") -> ReplayResult:
    readings = load_measurements(BUNDLED).rows(slice(0, rows))
    config = ReplayConfig(broker=BrokerSettings(broker.url), meters=meters, meter_offset_minutes=rows,
                          client_id=client_id, progress=False, ack_timeout_s=WAIT_S)
    return replay(config, readings)


def wait_for_reconnect(agent: AgentProcess) -> float:
    """Seconds until the agent's metrics show its second connection."""
    began = time.monotonic()
    while ((agent.metrics() or {}).get("publish", {}).get("connects", 0)) < 2:
        assert time.monotonic() - began < WAIT_S, "the agent did not reconnect"
        time.sleep(0.05)
    return time.monotonic() - began


def kill_right_after_a_metrics_write(agent: AgentProcess) -> int:
    """SIGKILL the agent within a millisecond of a metrics write; the readings it had handled by that write."""
    written = agent.run.metrics_file.stat().st_mtime_ns
    while agent.run.metrics_file.stat().st_mtime_ns == written:
        time.sleep(0.0005)
    agent.process.send_signal(signal.SIGKILL)
    agent.process.wait()
    agent.process = None
    return agent.metrics()["readings"]["received"]


def wait_until_settled(agent: AgentProcess, quiet_s: float = 1.5) -> dict:
    """The agent's reading counters once they stopped changing for ``quiet_s`` (the backlog is drained)."""
    last, since = None, time.monotonic()
    while time.monotonic() - since < quiet_s:
        now = agent.received()
        if now != last:
            last, since = now, time.monotonic()
        time.sleep(0.1)
    return final_metrics(agent)["readings"]


def final_metrics(agent: AgentProcess) -> dict:
    """Stop the agent by PID (SIGTERM) and read the metrics it wrote on the way out."""
    assert agent.stop() == 0
    return agent.metrics()


def test_broker_restart_mid_replay_loses_nothing(tmp_path, assets):
    broker = start_broker(tmp_path, shipped_reliability_settings())
    agent = agent_for(broker, assets, tmp_path / "agent").start()
    results: list[ReplayResult] = []
    replaying = threading.Thread(target=lambda: results.append(replay_rows(broker, 6000)))
    try:
        replaying.start()
        agent.wait_until_received(1000, WAIT_S)
        broker.restart(signal.SIGTERM)
        recovered_s = wait_for_reconnect(agent)
        replaying.join(WAIT_S)
        agent.wait_until_received(results[0].published, WAIT_S)
        metrics = final_metrics(agent)
    finally:
        agent.stop()
        broker.stop()
    readings = metrics["readings"]
    log.info("broker restart: published %d, agent received %d, duplicates %d, late %d, reconnected in %.1f s",
             results[0].published, readings["received"], readings["duplicates"], readings["late"], recovered_s)
    assert results[0].acknowledged == results[0].published == 6000
    # Every minute is taken exactly once. QoS 1 resends are rejected: as duplicates, or as late when a newer
    # minute already arrived (the agent does not yet tell a late resend from a late first delivery).
    assert readings["accepted"] == 6000
    assert readings["received"] == 6000 + readings["duplicates"] + readings["late"]


def test_agent_sigkill_mid_replay_then_restart_loses_nothing(tmp_path, assets):
    broker = start_broker(tmp_path, shipped_reliability_settings())
    agent = agent_for(broker, assets, tmp_path / "agent").start()
    results: list[ReplayResult] = []
    replaying = threading.Thread(target=lambda: results.append(replay_rows(broker, 6000)))
    try:
        replaying.start()
        agent.wait_until_received(1000, WAIT_S)
        handled_before = kill_right_after_a_metrics_write(agent)
        replaying.join(WAIT_S)
        agent.start()
        after = wait_until_settled(agent)
    finally:
        agent.stop()
        broker.stop()
    log.info("agent SIGKILL: %d readings handled before the kill, %d accepted after restart (%d duplicates)",
             handled_before, after["accepted"], after["duplicates"])
    assert results[0].acknowledged == 6000
    # The agent acknowledges a reading only once handled, so what the killed process had not handled is sent again
    # to the new one. At most the few readings handled in the ~1 ms between its last metrics write and the kill
    # are missing from this sum (without the late acknowledgement, its whole inbox, thousands, was lost).
    # Readings handled but not yet acknowledged come again to the new process, which has no memory of them (state
    # persistence is not implemented), so the sum may exceed 6000: they are handled twice, never lost.
    assert handled_before + after["accepted"] >= 6000 - 20


@pytest.mark.parametrize("shipped", [False, True], ids=["mosquitto-default", "deploy-mosquitto.conf"])
def test_offline_agent_gets_the_whole_backlog_only_with_the_shipped_queue_limit(tmp_path, assets, shipped):
    config = shipped_reliability_settings() if shipped else "persistence true\n"  # default max_queued_messages 1000
    broker = start_broker(tmp_path, config)
    agent = agent_for(broker, assets, tmp_path / "agent").start()
    try:
        assert agent.stop() == 0  # a clean disconnect: the session (and its queue) stays at the broker
        backlog = replay_rows(broker, 5000)  # 5,000 readings while the agent is away
        agent.start()
        came_back = time.monotonic()
        expected = backlog.acknowledged if shipped else 1000
        agent.wait_until_received(expected, WAIT_S)
        catch_up_s = time.monotonic() - came_back
        time.sleep(1.0)  # anything beyond the expected count would arrive now
        received = final_metrics(agent)["readings"]["received"]
    finally:
        agent.stop()
        broker.stop()
    log.info("offline backlog (%s): %d published, %d received, caught up in %.1f s",
             "shipped" if shipped else "default", backlog.acknowledged, received, catch_up_s)
    assert backlog.acknowledged == 5000
    if shipped:
        assert received == 5000
    else:
        assert 1000 <= received < 1100  # the queue limit plus what was in flight: ~3,900 dropped silently
