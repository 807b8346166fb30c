"""The search CLI end to end on the bundled slice: one tiny candidate, one epoch, every output a person reads."""

import json

import pytest

from train.artifacts import load_trained_model
from train.search import parse_args

pytestmark = pytest.mark.slow  # trains a search candidate


def test_the_table_has_persistence_four_least_squares_and_the_candidate(search_dir):
    rows = json.loads((search_dir / "results.json").read_text())["rows"]
    assert [r["kind"] for r in rows] == ["persistence", "linreg", "linreg", "linreg", "linreg", "lstm"]
    lstm = rows[-1]
    assert (lstm["name"], lstm["parameters"], lstm["macs"], lstm["epochs"]) == ("res8_hour_sm", 489, 13_448, 1)
    assert "| res8_hour_sm |" in (search_dir / "table.md").read_text()


def test_least_squares_on_the_same_inputs_has_one_coefficient_per_lag_and_feature(search_dir):
    rows = {r["name"]: r for r in json.loads((search_dir / "results.json").read_text())["rows"]}
    assert rows["least squares (gap+hour_sin+hour_cos+sm1+sm2+sm3)"]["parameters"] == 30 * 6 + 1


def test_the_candidate_is_handed_over_for_conversion_with_its_calendar_window(search_dir):
    handed = load_trained_model(search_dir / "models", "res8_hour_sm")
    assert handed.keras_path is not None
    assert handed.window.features == ("gap", "hour_sin", "hour_cos", "sm1", "sm2", "sm3")
    assert handed.calibration.shape == (1000, 30, 6)
    assert handed.extra["residual"] is True
    assert (handed.split.protocol, handed.split.train_fraction) == ("fraction", 0.8)  # convert rebuilds its test part


def test_both_plots_are_written_as_png(search_dir):
    for name in ("error_vs_size.png", "error_vs_energy.png"):
        assert (search_dir / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_help_explains_every_option(capsys):
    with pytest.raises(SystemExit):
        parse_args(["--help"])
    text = capsys.readouterr().out
    for option in (
        "--data",
        "--out-dir",
        "--candidates",
        "--epochs",
        "--batch-size",
        "--learning-rate",
        "--patience",
        "--validation-split",
        "--seed",
        "--protocol",
        "--resample",
        "--horizon",
        "--seq-len",
        "--cut-date",
        "--train-fraction",
    ):
        assert option in text
