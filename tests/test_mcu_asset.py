"""The committed microcontroller model, ``firmware_assets/mcu_lstm_int8.tflite``: the issue's limits, the manifest
entry against the file, TFLM, and the agent's online scores against the offline streaming evaluation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from convert.flatbuffer import summarize
from convert.isolated import run_isolated
from convert.tflm import arena_works, tflm_outputs
from device.models.families.tflite import dequantize, quantize
from device.models.load import load_models
from device.models.manifest import load_manifest, verify_file
from tests.device_assets import Series
from tests.test_device_scoring import assert_online_equals_offline
from train.mcu_models import candidate

ASSETS = Path(__file__).resolve().parents[1] / "firmware_assets"
NAME = "mcu_lstm_int8"
FEATURES = ("gap", "hour_sin", "hour_cos", "dow_sin", "dow_cos", "sm1", "sm2", "sm3")
ARENA_LIMIT = 16 * 1024

pytestmark = pytest.mark.skipif(NAME not in load_manifest(ASSETS).models, reason=f"{NAME} not shipped yet")


@pytest.fixture(scope="module")
def entry():
    return load_manifest(ASSETS).models[NAME]


@pytest.fixture(scope="module")
def model_bytes(entry) -> bytes:
    return verify_file(ASSETS, load_manifest(ASSETS), entry.file).read_bytes()


@pytest.fixture(scope="module")
def windows(entry) -> np.ndarray:
    """Scaled windows of the bundled data, cut and scaled by the device contract with the shipped scaling."""
    from device.contract import make_windows

    series = Series.bundled(start=0, rows=600)
    gap = series.filled()[:, 0]
    x, _ = make_windows(
        entry.scaling.transform(series.features(entry.window)), entry.scaling.transform_target(gap), entry.window
    )
    return x[::10]


def test_it_is_one_fused_lstm_with_the_residual_slice_and_add_and_nothing_else(model_bytes):
    summary = summarize(model_bytes)
    assert summary.op_counts == {"UNIDIRECTIONAL_SEQUENCE_LSTM": 1, "STRIDED_SLICE": 2, "FULLY_CONNECTED": 1, "ADD": 1}
    assert summary.subgraphs == 1  # no WHILE loop


def test_it_is_full_int8_in_and_out_as_the_manifest_says(entry, model_bytes):
    summary = summarize(model_bytes)
    assert summary.float_tensors == ()
    assert (summary.input, summary.output) == (entry.input, entry.output)
    assert (entry.input.dtype, entry.output.dtype, entry.input.shape) == ("int8", "int8", (1, 30, len(FEATURES)))


def test_the_entry_describes_the_search_winner_within_the_issue_budget(entry):
    winner = candidate(entry.metrics["source"]["trained_as"])
    assert entry.window.features == winner.features == FEATURES
    assert entry.parameters == winner.parameters <= 2000
    assert entry.macs == winner.macs
    assert entry.arena_bytes <= ARENA_LIMIT
    assert entry.metrics["full_test"]["windows"] == 415_018


def test_the_int8_test_error_recorded_meets_the_target(entry):
    assert entry.metrics["full_test"]["int8"]["mse"] <= 0.175


def test_tflm_runs_it_in_the_recorded_arena_and_not_16_bytes_less(entry, model_bytes, windows):
    x_q = quantize(windows, entry.input)
    assert arena_works(model_bytes, entry.arena_bytes, x_q[0])
    assert not arena_works(model_bytes, entry.arena_bytes - 16, x_q[0])


def test_tflm_agrees_with_the_agents_litert_within_a_few_output_steps(entry, model_bytes, windows):
    (loaded,) = load_models(ASSETS, (NAME,))
    litert = loaded.predictor.predict(windows, np.full(len(windows), 30))
    raw = run_isolated("TFLM", tflm_outputs, model_bytes, entry.arena_bytes, quantize(windows, entry.input))
    steps = np.abs(dequantize(raw, entry.output) - litert) / entry.output.scale
    assert steps.max() <= entry.metrics["tflm"]["max_steps_vs_litert"] + 0.5


def test_the_agent_scores_it_and_its_least_squares_online_as_offline():
    assert_online_equals_offline(load_models(ASSETS, (NAME, "linreg_cal")), Series.bundled(start=8000, rows=1200))


@pytest.mark.fulldata
@pytest.mark.slow
@pytest.mark.exhaustive
def test_the_recorded_int8_error_is_what_the_file_gives_on_every_test_window(entry, full_data):
    from convert.mcu import WindowCache, full_test_metrics
    from train.search import SearchConfig

    windows = WindowCache().windows_for(SearchConfig(data=full_data).split, entry.window, entry.scaling)
    measured = full_test_metrics(entry, ASSETS / entry.file, windows)
    assert measured["n"] == 415_018
    assert measured["mse"] == pytest.approx(entry.metrics["full_test"]["int8"]["mse"], abs=1e-9)
