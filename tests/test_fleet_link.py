"""The agent's options for a fleet: a broker list it fails over along (against a real Mosquitto), and partitions.
(A refused subscription is tested against NATS in test_fleet_cluster.py: Mosquitto 2.0.11 grants every
subscription, even one its ACL denies.)"""

from __future__ import annotations

from pathlib import Path

import pytest

from device.agent import Agent
from device.config import AgentConfig
from simulator.brokers import free_port
from tests.device_assets import Series, build_assets

TIMEOUT_S = 15.0


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> Path:
    return build_assets(tmp_path_factory.mktemp("assets"), Series.bundled())


def config(broker: str, assets: Path, **options) -> AgentConfig:
    return AgentConfig(
        broker=broker, assets=assets, models=("persistence",), ha_discovery=False, tracemalloc_readings=0, **options
    )


def test_an_unreachable_first_broker_fails_over_to_the_next_in_the_list(mosquitto, assets):
    agent = Agent(config(f"mqtt://127.0.0.1:{free_port()},{mosquitto.url}", assets)).start()
    try:
        assert agent.link.subscribed.wait(TIMEOUT_S)
        assert agent.link.broker == ("127.0.0.1", mosquitto.port)
        assert agent.link.counters["failovers"] == 1
    finally:
        agent.stop()


def test_a_partition_is_k_of_n():
    assert config("mqtt://h:1", Path("a"), partition="3/4").reading_prefix == "part/3/meter"
    with pytest.raises(ValueError, match="K/N"):
        config("mqtt://h:1", Path("a"), partition="4/4")
