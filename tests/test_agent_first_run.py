"""What a newcomer meets starting the agent by hand: by default it runs every shipped model (the recommended one
included), it finds the shipped assets from any working directory, and when assets are missing the error says where
it looked and which option to use."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest

from device.config import AgentConfig, build_parser
from device.models.load import load_models
from device.models.manifest import MANIFEST_NAME, AssetIntegrityError, load_manifest, locate_assets

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "firmware_assets"
#: The model the README's report recommends for both device classes.
RECOMMENDED = "mcu_lstm_int8"


@pytest.fixture
def elsewhere(tmp_path, monkeypatch) -> Path:
    """A working directory outside the repository."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_by_default_the_agent_runs_every_model_of_the_manifest_the_recommended_one_included():
    loaded = [m.name for m in load_models(SHIPPED, AgentConfig().models)]
    assert loaded == list(load_manifest(SHIPPED).models)
    assert RECOMMENDED in loaded


def test_the_help_says_the_default_is_every_model():
    assert "(default: every model in the manifest)" in " ".join(build_parser().format_help().split())


def test_from_another_directory_the_default_assets_are_found_beside_the_package_and_logged(elsewhere, caplog):
    with caplog.at_level(logging.INFO, logger="device.models.manifest"):
        assert locate_assets(AgentConfig().assets) == SHIPPED
    assert f"no {MANIFEST_NAME} in {elsewhere / 'firmware_assets'}: using {SHIPPED}" in caplog.text


def test_a_relative_assets_folder_in_the_working_directory_wins(elsewhere):
    (elsewhere / "firmware_assets").mkdir()
    (elsewhere / "firmware_assets" / MANIFEST_NAME).write_text("{}")
    assert locate_assets(Path("firmware_assets")) == elsewhere / "firmware_assets"


def test_missing_assets_name_the_absolute_folder_and_the_option(elsewhere):
    with pytest.raises(AssetIntegrityError, match=f"no {MANIFEST_NAME} in {elsewhere / 'nowhere'}: point --assets at"):
        load_models(Path("nowhere"), ())


def test_the_agent_started_elsewhere_without_assets_exits_2_and_says_where_it_looked(tmp_path):
    agent = subprocess.run(
        [sys.executable, str(REPO / "device" / "agent.py"), "--assets", "nowhere"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert agent.returncode == 2
    assert f"cannot start: no {MANIFEST_NAME} in {tmp_path / 'nowhere'}: point --assets at" in agent.stderr


def test_a_refused_start_leaves_no_memory_tracing_behind(tmp_path):
    """The agent traces Python allocations while it loads (a sample for its metrics); a start it refuses must stop
    that, or every later allocation of the process that embeds it stays traced, and slow."""
    from device.agent import Agent

    assert not tracemalloc.is_tracing()
    with pytest.raises(AssetIntegrityError):
        Agent(AgentConfig(assets=tmp_path, tracemalloc_readings=200))
    assert not tracemalloc.is_tracing()
