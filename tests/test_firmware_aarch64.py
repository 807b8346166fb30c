"""The firmware's runtime on the Raspberry Pi's architecture: cross-built for aarch64 as a static executable and run
under qemu-user, its outputs equal tflite-micro's (the Q15 predictor's for linreg_q15) bit for bit on held-out
windows, with gcc's NEON auto-vectoriser off (-O2) and on (-O3 -march=armv8-a). Without aarch64-linux-gnu-gcc or
qemu-aarch64 these skip (fail under CI=true)."""

from __future__ import annotations

import subprocess
from functools import cache

import numpy as np
import pytest

from firmware.heldout import MODELS, held_out_windows, reference_outputs
from firmware.hosted import DEFAULT_OPT, VECTORISED_OPT, build, main, run, vector_instructions
from firmware.toolchain import find_tool
from tests.conftest import BUNDLED_DATA

WINDOWS = 300


@cache
def _windows(model: str):
    windows = held_out_windows(model, BUNDLED_DATA, WINDOWS)
    return windows, reference_outputs(model, windows)


@pytest.mark.slow
@pytest.mark.parametrize("opt", [DEFAULT_OPT, VECTORISED_OPT])
@pytest.mark.parametrize("model", MODELS)
def test_the_aarch64_build_reproduces_the_reference_bit_for_bit(model, opt):
    windows, expected = _windows(model)
    outputs = run(build(model, "aarch64", opt), windows.x_q)
    assert len(outputs) == len(expected) > 200
    np.testing.assert_array_equal(outputs, expected)


@pytest.mark.slow
def test_the_aarch64_runtime_sums_the_gates_with_neon_and_o3_vectorises_more():
    """The gate sums are NEON widening multiply-accumulates (smlal v.4s) at any optimisation; -O3's auto-vectoriser
    turns more of the portable C (widening, the head) into NEON."""
    plain = build("mcu_lstm_int8", "aarch64", DEFAULT_OPT)
    listing = subprocess.run(
        [find_tool(*plain.arch.objdump), "-d", str(plain.runtime_object)], capture_output=True, text=True, check=True
    ).stdout
    assert listing.count("smlal\tv") >= 4
    assert vector_instructions(build("mcu_lstm_int8", "aarch64", VECTORISED_OPT)) > vector_instructions(plain)


@pytest.mark.slow
def test_the_command_prints_whether_it_is_bit_exact(capsys):
    main(["--model", "lstm_int8", "--windows", "50", "--opt", VECTORISED_OPT])
    printed = capsys.readouterr().out
    assert '"bit_exact": true' in printed and '"largest_difference": 0' in printed and '"windows": 50' in printed


def test_an_unknown_model_is_refused_before_building():
    with pytest.raises(ValueError, match="known: mcu_lstm_int8"):
        build("cnn_bilstm_int8")
