"""``python -m train`` end to end on a small part of the bundled slice: one table with every model, the plots, and
hand-over files the converter can load."""

from __future__ import annotations

import json

import numpy as np
import pytest

from device.contract import MEASUREMENTS
from device.models.families.linreg import LinearRegression
from train.__main__ import build_parser, main
from train.artifacts import load_trained_model
from train.config import MODELS, TrainConfig
from train.pipeline import run

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, request):
    out = tmp_path_factory.mktemp("train")
    bundled = request.config.rootpath / "data" / "household_power_14d.txt"
    main(
        [
            "--data",
            str(bundled),
            "--out",
            str(out),
            "--epochs",
            "1",
            "--subset-min-rows",
            "3000",
            "--max-train-windows",
            "1000",
            "--log-level",
            "WARNING",
        ]
    )
    return out


def test_report_has_every_model_in_one_table(run_dir):
    report = json.loads((run_dir / "report.json").read_text())
    assert [m["name"] for m in report["models"]] == list(MODELS)
    table = (run_dir / "report.md").read_text()
    assert all(f"| {name} |" in table for name in MODELS)


def test_report_states_the_protocol_and_the_fill(run_dir):
    summary = json.loads((run_dir / "report.json").read_text())["summary"]
    assert (summary["train_rows"], summary["test_rows"]) == (2400, 600)
    assert summary["protocol"].startswith("notebook: a contiguous subset of 3,000 rows")
    assert "3,723 of 20,160 rows missing" in summary["fill"]


def test_subsampled_cnn_bilstm_says_so(run_dir):
    models = {m["name"]: m for m in json.loads((run_dir / "report.json").read_text())["models"]}
    assert models["cnn_bilstm"]["notes"].startswith("trained on 1,000 of 2,366 training windows")
    assert models["seed_lstm"]["epochs_run"] == 1 and models["seed_lstm"]["notes"] == ""


def test_plots_are_written(run_dir):
    assert (run_dir / "predictions.png").stat().st_size > 10_000
    assert (run_dir / "loss_curves.png").stat().st_size > 10_000


@pytest.mark.parametrize(("name", "n_features"), [("seed_lstm", 1), ("augmented_lstm", 3), ("cnn_bilstm", 7)])
def test_networks_are_handed_over_with_their_checkpoint(run_dir, name, n_features):
    trained = load_trained_model(run_dir / "models", name)
    assert trained.keras_path is not None and trained.window.n_features == n_features
    assert trained.calibration.shape == (1000, 30, n_features)
    assert trained.x_val.shape == (600 - 34, 30, n_features) and trained.y_val.shape == (600 - 34,)
    report = {m["name"]: m for m in json.loads((run_dir / "report.json").read_text())["models"]}
    assert trained.metrics["test"] == report[name]["test"]


def test_linreg_hand_over_reproduces_its_test_metric(run_dir):
    trained = load_trained_model(run_dir / "models", "linreg")
    assert len(trained.extra["coef"]) == 30 and trained.parameters == 31
    model = LinearRegression(trained.window, np.asarray(trained.extra["coef"]), trained.extra["intercept"])
    predicted = trained.scaling.inverse_target(model.predict(trained.x_val, np.full(len(trained.x_val), 30)))
    actual = trained.scaling.inverse_target(trained.y_val)
    assert np.mean((predicted - actual) ** 2) == pytest.approx(trained.metrics["test"]["mse"], rel=1e-6)


def test_cnn_bilstm_scaling_has_one_range_per_measurement(run_dir):
    trained = load_trained_model(run_dir / "models", "cnn_bilstm")
    assert trained.window.features == MEASUREMENTS and len(trained.scaling.data_min) == 7


def test_help_explains_every_option():
    parser = build_parser()
    options = [a for a in parser._actions if a.option_strings and a.dest != "help"]
    assert len(options) >= 20
    assert all(a.help and len(a.help) > 10 for a in options)
    for flag in ("--data", "--protocol", "--epochs", "--models", "--out", "--max-train-windows", "--fill-policy"):
        assert flag in parser.format_help()


def test_paper_protocol_on_hourly_means_cuts_by_date(tmp_path, bundled_data):
    config = TrainConfig(
        data=bundled_data,
        out_dir=tmp_path,
        protocol="paper",
        cut_date="2007-05-03",
        resample="1h",
        models=("persistence", "linreg"),
    )
    result = run(config)
    summary = result["summary"]
    assert (summary.seq_len, summary.horizon) == (24, 1)
    assert (summary.train_rows, summary.test_rows) == (11 * 24, 3 * 24)
    assert summary.test_period.startswith("2007-05-03 00:00")
    assert result["models"]["linreg"]["test"]["n"] == 3 * 24 - 24
    assert not (tmp_path / "loss_curves.png").exists()  # no network was trained
