"""The project's C int8 runtime, built with the host's gcc, against tflite-micro's interpreter (state reset per
window) on held-out windows of the bundled data: bit-exact, and its generated constants match the shipped files."""

from __future__ import annotations

import numpy as np
import pytest

from convert.c_runtime import FixedPoint, MODELS, read_model, render
from convert.c_runtime_table import measure_sigmoid_table, render_table
from firmware.heldout import ASSETS, LSTM_MODELS, held_out_windows, reference_outputs
from firmware.host import HostRuntime
from tests.conftest import BUNDLED_DATA

WINDOWS = 400


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


@pytest.mark.parametrize("model", MODELS)
def test_the_committed_c_constants_are_what_the_shipped_tflite_gives(model):
    for name, text in render(read_model(model, (ASSETS / f"{model}.tflite").read_bytes())).items():
        assert (ASSETS / name).read_text() == text, f"{name} is stale: run python -m convert.c_runtime"


def test_the_committed_sigmoid_table_is_the_one_tflite_micro_computes_with():
    table = measure_sigmoid_table()
    assert (len(table), table[0], table[-1]) == (256, 32768, 65535)
    assert (ASSETS / "wc_sigmoid_table.c").read_text() == render_table(table)


@pytest.mark.parametrize("real, expected", [(2.0 ** -15, (1 << 30, -14)), (0.75, (3 << 29, 0)), (1.5, (3 << 29, 1)),
                                            (0.0, (0, 0))])
def test_multipliers_are_quantized_like_tflite(real, expected):
    assert (FixedPoint.of(real).multiplier, FixedPoint.of(real).shift) == expected
