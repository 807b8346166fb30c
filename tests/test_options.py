"""Options declared once (device.options): a dataclass field gives the flag, its help, its default and its type."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

import pytest

from device.contract import FillPolicy
from device.options import build_parser, option, option_of, parse_options


@dataclass(frozen=True)
class Example:
    out_dir: Path = option(Path("runs"), "where the files go", flag="--out")
    models: tuple[str, ...] = option(("a", "b"), "which models", choices=("a", "b", "c"))
    fill_policy: FillPolicy = option(FillPolicy.FORWARD_FILL, "what to do with a gap")
    check: bool = option(True, "prove the result")
    extra: tuple[str, ...] = option((), "arguments passed on", separator=None)
    limit: int | None = option(None, "at most this many; unset: no limit")


@dataclass(frozen=True)
class Login:
    user: str = option("guest", "who logs in")
    port: int = option(1883, "where")


@dataclass(frozen=True)
class Command:
    inputs: Path = option(help="what to read")
    login: Login = option(default_factory=Login, help="unused: a group's options carry their own help")
    limit: int | None = option_of(Example, "limit", default=3)


def parse(*argv: str, cls: type = Example):
    return parse_options(cls, list(argv), build_parser(cls, "example", "An example.", log_level=None))


def test_nothing_given_is_the_dataclass_defaults():
    assert parse() == Example()


def test_each_option_is_typed_from_its_field():
    parsed = parse("--out", "x", "--fill-policy", "drop", "--no-check", "--limit", "7")
    assert parsed == Example(out_dir=Path("x"), fill_policy=FillPolicy.DROP, check=False, limit=7)


@pytest.mark.parametrize("argv", [["--models", "a,c"], ["--models", "a", "c"], ["--models", "a, c"]])
def test_a_tuple_may_be_given_as_several_arguments_or_comma_separated(argv):
    assert parse(*argv).models == ("a", "c")


def test_a_whitespace_separated_tuple_keeps_option_like_items():
    assert parse("--extra", "--runtime tflm").extra == ("--runtime", "tflm")


def test_an_item_outside_the_choices_is_a_usage_error_naming_it(capsys):
    with pytest.raises(SystemExit) as exit_info:
        parse("--models", "a,z")
    assert exit_info.value.code == 2
    assert "['z']" in capsys.readouterr().err


@pytest.mark.parametrize(
    "module",
    [
        "train.__main__",
        "train.search",
        "simulator.replay",
        "simulator.demo",
        "firmware.measure",
        "firmware.hosted",
        "bench.inference",
        "bench.own_runtime",
        "bench.firmware",
        "bench.stale_vs_fresh",
    ],
)
def test_a_data_path_that_is_not_there_is_a_usage_error_naming_it_not_a_traceback(module, tmp_path, capsys):
    missing = tmp_path / "household_power_consumption.zip"
    with pytest.raises(SystemExit) as exit_info:
        importlib.import_module(module).main(["--data", str(missing)])
    assert exit_info.value.code == 2
    assert f"--data: {missing} does not exist" in capsys.readouterr().err


def test_help_shows_every_default_and_a_bool_reads_as_on_or_off(capsys):
    with pytest.raises(SystemExit):
        parse("--help")
    text = " ".join(capsys.readouterr().out.split())
    assert "--out OUT_DIR where the files go (default: runs)" in text
    assert "(default: a,b)" in text and "(default: ffill)" in text and "{a,b,c}" in text
    assert "--check, --no-check prove the result (default: on)" in text
    assert "unset: no limit (default: unset)" in text  # the help says what None means


def test_a_field_without_a_default_is_a_required_option(capsys):
    assert parse("--inputs", "w.npy", cls=Command).inputs == Path("w.npy")
    with pytest.raises(SystemExit) as exit_info:
        parse(cls=Command)
    assert exit_info.value.code == 2 and "--inputs" in capsys.readouterr().err


def test_a_dataclass_field_is_filled_from_its_group_of_options():
    assert parse("--inputs", "w", "--port", "8883", cls=Command).login == Login(port=8883)


def test_help_lists_a_group_under_its_name_and_says_what_is_required(capsys):
    with pytest.raises(SystemExit):
        parse("--help", cls=Command)
    text = " ".join(capsys.readouterr().out.split())
    assert "--inputs INPUTS what to read (required)" in text
    assert "login: --user USER who logs in (default: guest)" in text


def test_an_option_declared_again_keeps_its_flag_and_help_with_its_own_default():
    assert parse("--inputs", "w", cls=Command).limit == 3
    assert parse("--inputs", "w", "--limit", "9", cls=Command).limit == 9
    assert "at most this many" in build_parser(Command, "example", "").format_help()


@pytest.mark.parametrize(
    "module",
    [
        "train.__main__",
        "train.search",
        "convert.quantize",
        "convert.search_int8",
        "convert.c_runtime",
        "firmware.run",
        "firmware.measure",
        "firmware.hosted",
        "bench.firmware_targets",
        "bench.soak",
        "bench.throughput",
        "bench.inference",
        "bench.own_runtime",
        "bench.cluster",
        "bench.firmware",
        "bench.resample",
        "bench.stale_vs_fresh",
    ],
)
def test_every_host_command_explains_every_option_with_its_default(module, capsys):
    main = importlib.import_module(module).main
    with pytest.raises(SystemExit) as exit_info:
        main(["--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    options = [line.split()[0] for line in text.splitlines() if line.startswith("  --")]
    explained = text.count("(default:") + text.count("(required)")
    assert len(options) >= 2 and explained >= len(options) - text.count("unset")


def test_the_firmware_bench_reads_the_full_data_named_by_the_environment(monkeypatch):
    from bench.firmware import FULL_DATA_ENV, FirmwareBenchConfig
    from train.data import DEFAULT_DATA

    monkeypatch.delenv(FULL_DATA_ENV, raising=False)
    assert FirmwareBenchConfig().data == DEFAULT_DATA
    monkeypatch.setenv(FULL_DATA_ENV, "/data/household_power_consumption.zip")
    assert FirmwareBenchConfig().data == Path("/data/household_power_consumption.zip")
