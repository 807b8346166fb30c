"""Shared fixtures: a real Mosquitto per test, the bundled data, quiet TensorFlow."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from firmware.toolchain import ToolMissing  # noqa: E402
from simulator.brokers import BinaryMissing, MosquittoBroker  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
BUNDLED_DATA = REPO / "data" / "household_power_14d.txt"
FULL_DATA = REPO.parent / "shared" / "data" / "household_power_consumption.zip"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A test that needs a binary this machine lacks (a broker, a cross-compiler, an emulator) skips with the reason,
    except under CI (``CI=true``), where CI installs them all, so a missing one stays a failure."""
    outcome = yield
    report = outcome.get_result()
    missing = call.excinfo is not None and call.excinfo.errisinstance((BinaryMissing, ToolMissing))
    if missing and os.environ.get("CI", "").lower() != "true":
        report.outcome = "skipped"
        report.longrepr = (str(item.path), item.location[1] or 0, f"Skipped: {call.excinfo.value}")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """A test that uses the ``mosquitto`` fixture starts a broker, so it is marked ``broker`` whether or not its
    author said so (``make test-fast`` leaves those out). An exhaustive check (minutes of CPU over the full file) runs
    only on request, so the suite stays within its ten minutes wherever the full file happens to be; the README's
    "Developing" says how to ask."""
    for item in items:
        if "mosquitto" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.broker)
    if os.environ.get("WATTCAST_EXHAUSTIVE") == "1":
        return
    skip = pytest.mark.skip(reason="exhaustive full-file check: run with WATTCAST_EXHAUSTIVE=1 (and the full file)")
    for item in items:
        if "exhaustive" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def mosquitto(tmp_path: Path):
    """A fresh anonymous Mosquitto on a free port; the test may restart it; always stopped by PID."""
    broker = MosquittoBroker(tmp_path / "broker").start()
    yield broker
    broker.stop()


@pytest.fixture
def bundled_data() -> Path:
    return BUNDLED_DATA


@pytest.fixture(scope="session")
def search_dir(tmp_path_factory) -> Path:
    """``python -m train.search`` on the bundled slice, one tiny candidate (res8_hour_sm), one epoch: made once for
    the search's and the converter's tests."""
    from train.search import main

    out = tmp_path_factory.mktemp("search")
    main(["--data", str(BUNDLED_DATA), "--out-dir", str(out), "--candidates", "res8_hour_sm", "--epochs", "1"])
    return out


@pytest.fixture(scope="session")
def full_data() -> Path:
    """The full UCI file, or skip with the reason (it is not in the repo; see README)."""
    path = Path(os.environ.get("WATTCAST_FULL_DATA", FULL_DATA))
    if not path.is_file():
        pytest.skip(f"the full UCI file is not at {path} (set WATTCAST_FULL_DATA to run full-data checks)")
    return path
