"""Declaring sources: a repeatable --source with each profile's defaults, [[source]] tables in the TOML file with
their own topic, meter, unit and field, and the environment variable; the household's time zone."""

from __future__ import annotations

from device.config import load_config
from device.sources.reader import Source


def test_source_is_repeatable_on_the_command_line_and_defaults_to_wattcast():
    assert load_config([], environ={}).source == (Source("wattcast"),)
    config = load_config(["--source", "tasmota", "--source", "shelly-gen2", "--source", "esphome:W"], environ={})
    assert config.source == (Source("tasmota"), Source("shelly-gen2"), Source("esphome", unit="W"))


def test_the_toml_file_declares_sources_with_their_own_topic_meter_unit_and_field(tmp_path):
    toml = tmp_path / "agent.toml"
    toml.write_text(
        'timezone = "Europe/Paris"\n'
        '[[source]]\nprofile = "esphome"\ntopic = "garage/sensor/house_power/state"\nmeter = "house"\n'
        'unit = "W"\n'
        '[[source]]\nprofile = "shelly-gen2"\nfield = "em1:0.act_power"\n'
    )
    config = load_config(["--config", str(toml)], environ={})
    assert config.timezone == "Europe/Paris"
    assert config.source == (
        Source("esphome", "garage/sensor/house_power/state", "house", "W"),
        Source("shelly-gen2", field="em1:0.act_power"),
    )


def test_the_environment_may_list_sources_comma_separated():
    assert load_config([], environ={"WATTCAST_SOURCE": "tasmota,wattcast"}).source == (
        Source("tasmota"),
        Source("wattcast"),
    )
