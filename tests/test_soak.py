"""The soak, short: 20,000 readings from 50 meters through one agent process at full speed lose nothing and leak
no memory. The long run with the figures is ``python -m bench.soak`` (README, Reliability)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bench.soak import SoakConfig, run, tables
from simulator.brokers import find_mosquitto
from tests.device_assets import Series, build_assets

pytestmark = [pytest.mark.broker, pytest.mark.slow]

log = logging.getLogger(__name__)
#: Generous: a leak of even 1 KB per reading would add 15 MB over the three quarters after warm-up.
GROWTH_BOUND_MB = 40.0


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> Path:
    return build_assets(tmp_path_factory.mktemp("assets"), Series.bundled())


def test_twenty_thousand_readings_from_fifty_meters_lose_nothing_and_memory_stays_flat(assets):
    find_mosquitto()
    config = SoakConfig(assets=assets, readings=20_000, meters=50, max_growth_mb=GROWTH_BOUND_MB, progress=False)
    result = run(config)
    log.info("soak:\n%s", tables(result))
    assert result.lost == {"readings": 0, "linreg": 0, "persistence": 0}  # and 19,950 predictions per model
    assert result.extra == {"received_beyond_sent": 0, "duplicates": 0, "late": 0}  # nothing rejected either
    assert result.growth_bytes < GROWTH_BOUND_MB * 2**20
