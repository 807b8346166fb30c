"""The firmware on all seven cores (firmware/targets.py): each built with its own cross-compiler and run in its own
QEMU machine, its outputs equal tflite-micro's (the Q15 predictor's for linreg_q15) bit for bit on held-out windows.
Without a target's toolchain or QEMU these skip (fail under CI=true)."""

from __future__ import annotations

import shutil
import subprocess
from functools import cache

import numpy as np
import pytest

from device.models.entry import FirmwareMeasurement
from device.models.manifest import load_manifest
from firmware.cycles import SOURCES, classify, instruction_mix, parse_log
from firmware.heldout import ASSETS, MODELS, held_out_windows, reference_outputs
from firmware.image import build
from firmware.measure import expand_targets, measure, write_to_manifest
from firmware.run import run_model
from firmware.targets import TARGETS, target
from firmware.toolchain import find_tool
from tests.conftest import BUNDLED_DATA

WINDOWS = 6


@cache
def _windows(model: str):
    windows = held_out_windows(model, BUNDLED_DATA, WINDOWS)
    return windows, reference_outputs(model, windows).tolist()


@pytest.mark.slow
@pytest.mark.parametrize("name", TARGETS)
@pytest.mark.parametrize("model", MODELS)
def test_every_core_reproduces_the_reference_bit_for_bit(name, model):
    windows, expected = _windows(model)
    result = run_model(model, windows.x_q, repeat=4 if model == "linreg_q15" else 1, target=name)
    assert result["target"] == name and f"-M {target(name).machine} " in result["measured_on"]
    assert result["outputs"] == expected
    assert len(result["instructions"]) == WINDOWS and min(result["instructions"]) > 0
    assert result["flash_bytes"] > 0 and result["ram_bytes"] >= result["stack_bytes"] > 0


@pytest.mark.slow
def test_the_cortex_m0_image_has_no_dsp_instructions_and_the_m4_image_has():
    """The M0 has no SMLAD/SXTB16: its build takes the portable C path (guarded by __ARM_FEATURE_SIMD32)."""
    windows, _ = _windows("mcu_lstm_int8")
    m0 = run_model("mcu_lstm_int8", windows.x_q[:1], target="cortex-m0")
    m4 = run_model("mcu_lstm_int8", windows.x_q[:1], target="cortex-m4")
    assert m0["instructions"][0] > m4["instructions"][0]
    assert "smlad" not in _disassembly("cortex-m0") and "smlad" in _disassembly("cortex-m4")


def _disassembly(name: str) -> str:
    image = build("mcu_lstm_int8", target_name=name)
    objdump = find_tool("arm-none-eabi-objdump", "binutils-arm-none-eabi")
    return subprocess.run([objdump, "-d", str(image.elf)], capture_output=True, text=True, check=True).stdout


def test_an_unknown_target_is_refused_with_the_known_ones():
    with pytest.raises(ValueError, match="cortex-m0, cortex-m3"):
        target("cortex-a53")


def test_each_arm_target_builds_for_its_own_core_and_the_m0_without_an_fpu():
    assert all(f"-mcpu={n} " in t.arch_flags for n, t in TARGETS.items() if t.platform == "arm")
    assert "-mfloat-abi=soft" in TARGETS["cortex-m0"].arch_flags
    assert np.isclose(TARGETS["cortex-m4"].instructions_per_step, 40.0)


def test_the_cycle_estimate_prices_each_class_with_the_cores_table():
    """A made-up log of one two-instruction block run three times: a load (2 cycles on the M4) and a taken branch
    (1 + P, P = 2)."""
    log = "IN: f\n0x00000100:  6800       ldr      r0, [r0]\n0x00000102:  e7fd       b        #0x100\n\n"
    log += "Trace 0: 0x7f [00000000/00000100/00000000/00000000] f\n" * 3
    mix = parse_log(log, "arm", [(0x100, 0x104)])
    assert (mix.instructions, mix.classes) == (6, {"load": 3, "branch": 3})
    assert mix.cycles("cortex-m4") == 3 * 2 + 3 * 3
    assert classify("arm", "pop", "{r4, r5, pc}") == ("multi", 6)
    assert classify("riscv", "mulh", "a0,a1,a2")[0] == "mulh" and classify("riscv", "addi", "a0,a0,1")[0] == "alu"


@pytest.mark.slow
def test_the_measured_mix_counts_what_the_clock_counts():
    windows, _ = _windows("mcu_lstm_int8")
    image = build("mcu_lstm_int8", target_name="cortex-m4")
    clocked = run_model("mcu_lstm_int8", windows.x_q[:1])["instructions"][0]
    assert abs(instruction_mix(image, windows.x_q[:1]).instructions - clocked) <= 0.005 * clocked


@pytest.mark.slow
@pytest.mark.parametrize("name", TARGETS)
@pytest.mark.parametrize("model", MODELS)
def test_the_manifest_records_what_the_firmware_measures_on_each_target(name, model):
    """`python -m firmware.measure --targets all --write-manifest` wrote these; a runtime change without
    re-measuring fails here."""
    measured = measure(model, BUNDLED_DATA, WINDOWS, name)
    recorded = load_manifest(ASSETS).models[model].targets[name]
    assert (recorded.flash_bytes, recorded.ram_bytes) == (measured.flash_bytes, measured.ram_bytes)
    assert abs(measured.instructions - recorded.instructions) <= 0.005 * recorded.instructions
    assert abs(measured.cycles - recorded.cycles) <= 0.01 * recorded.cycles
    assert recorded.cycles > recorded.instructions and recorded.cycle_timings == SOURCES[name]


def test_all_means_every_target_in_order():
    assert expand_targets(("all",)) == tuple(TARGETS)
    assert expand_targets(("rv32imc", "cortex-m0", "rv32imc")) == ("rv32imc", "cortex-m0")


def test_writing_one_targets_figures_keeps_the_others_and_the_m4_record(tmp_path):
    assets = tmp_path / "assets"
    shutil.copytree(ASSETS, assets)
    before = load_manifest(assets).models["lstm_int8"]
    new = FirmwareMeasurement(instructions=1, flash_bytes=2, ram_bytes=3, cycles=4, cycle_timings="made up")
    write_to_manifest({"lstm_int8": {"cortex-m0": new}}, assets)
    after = load_manifest(assets).models["lstm_int8"]
    assert after.targets == {**before.targets, "cortex-m0": new} and after.m4 == before.m4
    write_to_manifest({"lstm_int8": {"cortex-m4": new}}, assets)
    assert load_manifest(assets).models["lstm_int8"].m4 == new  # the M4's figures are also the old readers' m4
