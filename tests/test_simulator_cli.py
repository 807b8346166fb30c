"""Every option of the simulator's commands and the agent is explained in --help with its default, every --help
runs, and the CLIs fill their config dataclasses."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from device import config as agent_config
from device.options import parse_options
from simulator import demo, replay, report

REPO = Path(__file__).resolve().parents[1]
PARSERS = [replay.build_parser, demo.build_parser, report.build_parser, agent_config.build_parser]
COMMANDS = [["-m", "simulator.demo"], ["-m", "simulator.replay"], ["-m", "simulator.report"], ["device/agent.py"]]


def options_without_help(parser: argparse.ArgumentParser) -> list[str]:
    return [a.option_strings[0] for a in parser._actions if a.option_strings and not (a.help or "").strip()]


def options_without_default(parser: argparse.ArgumentParser) -> list[str]:
    """Options that take a value, are not required, and whose help does not say what happens without them."""
    formatter = parser._get_formatter()
    return [
        a.option_strings[0]
        for a in parser._actions
        if a.option_strings and a.nargs != 0 and not a.required and "default" not in formatter._expand_help(a)
    ]


@pytest.mark.parametrize("build_parser", PARSERS)
def test_every_option_has_help(build_parser):
    assert options_without_help(build_parser()) == []


@pytest.mark.parametrize("build_parser", PARSERS)
def test_every_optional_value_shows_its_default(build_parser):
    assert options_without_default(build_parser()) == []


def test_the_demo_help_names_only_options_it_has():
    assert "meter-id-prefix" not in demo.build_parser().format_help()


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[-1])
def test_help_runs_from_any_directory(command, tmp_path):
    script = [str(REPO / command[0])] if command[0].endswith(".py") else command
    shown = subprocess.run(
        [sys.executable, *script, "--help"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert shown.returncode == 0, shown.stderr
    assert "usage:" in shown.stdout and "default" in shown.stdout


def test_replay_cli_fills_its_config():
    argv = ["--speed", "60", "--meters", "3", "--days", "2", "--mqtt-version", "3.1.1", "--broker", "mqtts://h:8883"]
    config = parse_options(replay.ReplayConfig, argv, replay.build_parser())
    assert (config.speed, config.meters, config.days) == (60.0, 3, 2.0)
    assert (config.broker.mqtt_version, config.broker.tls, config.broker.port) == ("3.1.1", True, 8883)


def test_demo_defaults_to_every_model_and_a_month_at_most():
    config = parse_options(demo.DemoConfig, [], demo.build_parser())
    assert (config.models, config.days, config.broker) == ((), 31.0, None)


def test_demo_models_may_be_comma_separated():
    config = parse_options(demo.DemoConfig, ["--models", "linreg,persistence"], demo.build_parser())
    assert config.models == ("linreg", "persistence")


def test_report_cli_requires_the_agents_files_and_fills_the_report_config(tmp_path):
    command = parse_options(
        report.ReportCommand,
        ["--metrics", "m.json", "--predictions", "p.csv", "--margin", "0.1"],
        report.build_parser(),
    )
    assert (command.metrics, command.predictions, command.report.margin) == (Path("m.json"), Path("p.csv"), 0.1)
    with pytest.raises(SystemExit):
        report.build_parser().parse_args(["--metrics", "m.json"])
