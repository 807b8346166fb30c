"""The project's C int8 runtime, built with the host's gcc, against tflite-micro's interpreter (state reset per
window) on held-out windows of the bundled data: bit-exact, and its generated constants match the shipped files."""

from __future__ import annotations

import numpy as np
import pytest

from convert.c_runtime import MODELS, render
from convert.c_runtime_table import TABLE_FILE, measure_sigmoid_table, render_table
from device.models.wattcast_constants import FixedPoint, UnsupportedModel, read_model
from firmware.heldout import ASSETS, LSTM_MODELS, held_out_windows, reference_outputs
from firmware.host import HostRuntime
from tests.conftest import BUNDLED_DATA

WINDOWS = 400
BIG_MODEL = "augmented_lstm_int8"


def _generate(model: str, directory) -> str:
    """The model's C constants from its shipped .tflite, written to ``directory``."""
    for name, text in render(read_model(model, (ASSETS / f"{model}.tflite").read_bytes())).items():
        (directory / name).write_text(text)
    return model


@pytest.fixture(scope="module")
def runtime(tmp_path_factory) -> HostRuntime:
    return HostRuntime(tmp_path_factory.mktemp("runtime"), LSTM_MODELS)


@pytest.mark.parametrize("model", LSTM_MODELS)
def test_outputs_equal_tflite_micro_bit_for_bit_on_400_held_out_windows(runtime, model):
    windows = held_out_windows(model, BUNDLED_DATA, WINDOWS)
    assert len(windows.x_q) == WINDOWS
    expected = reference_outputs(model, windows)
    assert np.unique(expected).size > 10  # the windows exercise the model, not one constant output
    np.testing.assert_array_equal(runtime.predict(model, windows.x_q), expected)


def test_the_runtime_is_not_tied_to_the_two_models_a_three_layer_lstm_is_bit_exact_too(tmp_path):
    """augmented_lstm_int8 (3 stacked LSTMs of 50, 25 and 10 units, a 2^-14 cell scale): generated here, compiled with
    larger limits, same agreement."""
    model = _generate(BIG_MODEL, tmp_path)
    runtime = HostRuntime(tmp_path, (model,), constants=tmp_path, defines=("WC_MAX_STATE=52", "WC_MAX_LAYERS=3"))
    windows = held_out_windows(model, BUNDLED_DATA, 100)
    np.testing.assert_array_equal(runtime.predict(model, windows.x_q), reference_outputs(model, windows))


def test_a_model_wider_than_the_compiled_limits_is_refused(tmp_path):
    model = _generate(BIG_MODEL, tmp_path)
    runtime = HostRuntime(tmp_path, (model,), constants=tmp_path)  # the defaults: 32 units, 2 layers
    with pytest.raises(RuntimeError, match="error 1"):
        runtime.predict(model, np.zeros((1, 30, 3), np.int8))


def test_models_outside_the_runtime_are_refused_with_the_reason():
    with pytest.raises(UnsupportedModel, match="not an LSTM stack with a dense head"):
        read_model("cnn_bilstm_int8", (ASSETS / "cnn_bilstm_int8.tflite").read_bytes())


@pytest.mark.parametrize("model", MODELS)
def test_the_committed_c_constants_are_what_the_shipped_tflite_gives(model):
    for name, text in render(read_model(model, (ASSETS / f"{model}.tflite").read_bytes())).items():
        assert (ASSETS / name).read_text() == text, f"{name} is stale: run python -m convert.c_runtime"


def test_the_committed_sigmoid_table_is_the_one_tflite_micro_computes_with():
    table = measure_sigmoid_table()
    assert (len(table), table[0], table[-1]) == (256, 32768, 65535)
    assert TABLE_FILE.read_text() == render_table(table), "stale: run python -m convert.c_runtime_table"


@pytest.mark.parametrize(
    "real, expected", [(2.0**-15, (1 << 30, -14)), (0.75, (3 << 29, 0)), (1.5, (3 << 29, 1)), (0.0, (0, 0))]
)
def test_multipliers_are_quantized_like_tflite(real, expected):
    assert (FixedPoint.of(real).multiplier, FixedPoint.of(real).shift) == expected
