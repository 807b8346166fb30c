"""Every option of the simulator's commands is explained in --help, and the CLIs fill their config dataclasses."""

from __future__ import annotations

import argparse

import pytest

from simulator import demo, replay


def options_without_help(parser: argparse.ArgumentParser) -> list[str]:
    return [a.option_strings[0] for a in parser._actions if a.option_strings and not (a.help or "").strip()]


@pytest.mark.parametrize("module", [replay, demo])
def test_every_option_has_help(module):
    assert options_without_help(module.build_parser()) == []


def test_replay_cli_fills_its_config():
    args = replay.build_parser().parse_args(
        ["--speed", "60", "--meters", "3", "--days", "2", "--mqtt-version", "3.1.1", "--broker", "mqtts://h:8883"])
    config = replay.config_from_args(args)
    assert (config.speed, config.meters, config.days) == (60.0, 3, 2.0)
    assert (config.broker.mqtt_version, config.broker.tls, config.broker.port) == ("3.1.1", True, 8883)


def test_demo_defaults_to_every_model_and_a_month_at_most():
    args = demo.build_parser().parse_args([])
    assert (args.models, args.days, args.broker) == (None, 31.0, None)
