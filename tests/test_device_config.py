"""Agent configuration: defaults < TOML file < WATTCAST_* environment < command line; secrets never in repr."""

from __future__ import annotations

from pathlib import Path

import pytest

from device.config import AgentConfig, load_config


def test_defaults_need_no_arguments():
    config = load_config([], environ={})
    assert config == AgentConfig()


def test_the_command_line_beats_the_environment_which_beats_the_file(tmp_path):
    toml = tmp_path / "agent.toml"
    toml.write_text(
        'agent_id = "from-file"\nmodels = ["linreg", "trend"]\nmax_gap_minutes = 7\nbroker = "mqtt://h:1"\n'
    )
    env = {"WATTCAST_CONFIG": str(toml), "WATTCAST_MAX_GAP_MINUTES": "9", "WATTCAST_BROKER": "mqtt://env:2"}
    config = load_config(["--broker", "mqtt://cli:3"], environ=env)
    assert config.agent_id == "from-file"
    assert config.models == ("linreg", "trend")
    assert config.max_gap_minutes == 9
    assert config.broker == "mqtt://cli:3"


def test_models_and_flags_parse_from_the_command_line():
    config = load_config(["--models", "lstm_int8, linreg", "--no-ha-discovery", "--metrics-file", "m.json"], environ={})
    assert config.models == ("lstm_int8", "linreg")
    assert config.ha_discovery is False
    assert config.metrics_file == Path("m.json")


def test_the_password_comes_from_a_file_and_never_shows_in_repr(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("s3cret-pass\n")
    config = load_config(["--username", "pi01", "--password-file", str(secret)], environ={})
    assert config.password == "s3cret-pass"
    assert "s3cret-pass" not in repr(config)


def test_the_password_may_come_from_the_environment():
    assert load_config([], environ={"WATTCAST_PASSWORD": "pw-env"}).password == "pw-env"


def test_there_is_no_password_option_on_the_command_line():
    with pytest.raises(SystemExit):
        load_config(["--password", "x"], environ={})


def test_an_unknown_toml_key_is_an_error(tmp_path):
    toml = tmp_path / "agent.toml"
    toml.write_text("modles = ['linreg']\n")
    with pytest.raises(ValueError, match="modles"):
        load_config(["--config", str(toml)], environ={})


def test_mqtts_turns_tls_on_with_port_8883():
    config = AgentConfig(broker="mqtts://broker.local")
    assert config.broker_settings.tls and config.broker_settings.brokers == [("broker.local", 8883)]


def test_the_example_deploy_toml_loads_as_documented():
    config = load_config(["--config", str(Path(__file__).parents[1] / "deploy" / "agent.toml")], environ={})
    assert config.models == ("mcu_lstm_int8", "lstm_int8", "linreg", "persistence")
    assert (config.timezone, [s.profile for s in config.source]) == ("Europe/Paris", ["wattcast"])
    assert config.state_file == Path("/var/lib/wattcast/state.json")
