"""``python -m firmware.run --model mcu_lstm_int8 --inputs windows.npy``: builds the image of the model for a core,
runs every window through it in QEMU and prints one JSON object. ``--target`` picks the core: cortex-m4 (the default,
mps2-an386), cortex-m0 (microbit), cortex-m3 (mps2-an385), cortex-m7 (mps2-an500), cortex-m33 (mps2-an505),
cortex-m55 (mps3-an547) or rv32imc (qemu-system-riscv32 virt).

- ``target``: the core it ran on;
- ``outputs``: the model's raw output per window (int8 for the LSTMs, the int32 Q15 accumulator for linreg_q15);
- ``instructions``: instructions per inference, per window (SysTick or minstret under ``-icount shift=0``);
- ``flash_bytes`` / ``ram_bytes``: the runtime without the test harness: text + data of the runtime's objects
  (arm-none-eabi-size), and their data + bss plus the deepest stack one inference used (measured by painting).

``windows.npy`` holds already-quantised windows ``(n, seq_len, features)``: int8 for the LSTMs (the model's input
scale and zero point), int16 Q15 for linreg_q15.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device.options import build_parser, option, parse_options
from firmware import image as images
from firmware.qemu import run
from firmware.targets import DEFAULT_TARGET, TARGETS

log = logging.getLogger(__name__)


def expected_shape(model: str) -> tuple[int, int]:
    """(seq_len, features) the model's window has, from the generated header (or linreg.h)."""
    header = images.ASSETS_DIR / ("linreg.h" if model == "linreg_q15" else f"{model}_wc.h")
    defines = dict(
        line.split()[1:3]
        for line in header.read_text().splitlines()
        if line.startswith("#define") and len(line.split()) == 3
    )
    if model == "linreg_q15":
        return int(defines["LINREG_SEQ_LEN"]), int(defines["LINREG_N_FEATURES"])
    prefix = f"WC_{model.upper()}"
    return int(defines[f"{prefix}_SEQ_LEN"]), int(defines[f"{prefix}_N_FEATURES"])


def check_windows(model: str, windows: np.ndarray) -> np.ndarray:
    """The windows as the firmware reads them, or a ValueError saying what is wrong with them."""
    dtype = images.INPUT_DTYPES[model]
    shape = expected_shape(model)
    if windows.ndim != 3 or windows.shape[1:] != shape:
        raise ValueError(f"{model} takes windows shaped (n, {shape[0]}, {shape[1]}), got {windows.shape}")
    if windows.dtype != np.dtype(dtype):
        raise ValueError(f"{model} takes already-quantised {dtype} windows, got {windows.dtype}")
    return windows


def run_model(
    model: str, windows: np.ndarray, repeat: int = 1, opt: str = images.DEFAULT_OPT, target: str = DEFAULT_TARGET
) -> dict:
    """Build, run and measure on one target: the JSON-ready result."""
    windows = check_windows(model, windows)
    image = images.build(model, opt=opt, target_name=target)
    footprint = image.footprint()
    result = run(image, windows, repeat)
    return {
        "model": model,
        "target": image.target.name,
        "outputs": result.outputs.tolist(),
        "instructions": result.instructions.tolist(),
        "flash_bytes": footprint.flash_bytes,
        "ram_bytes": footprint.static_ram_bytes + result.stack_bytes,
        "stack_bytes": result.stack_bytes,
        "instructions_per_systick": result.instructions_per_tick,
        "build": image.target.build.format(opt=opt),
        "measured_on": f"{result.qemu_version}, -M {image.target.machine} -icount shift=0",
    }


@dataclass(frozen=True)
class RunConfig:
    model: str = option(help="which model's image", choices=sorted(images.INPUT_DTYPES))
    inputs: Path = option(help="windows.npy: quantised windows (n, seq_len, features)")
    repeat: int = option(1, "run each window this many times and divide (one SysTick step is 40 instructions)")
    opt: str = option(images.DEFAULT_OPT, "gcc optimisation flag for the image")
    target: str = option(
        DEFAULT_TARGET, "the core (and its QEMU machine) to build for and run on", choices=tuple(TARGETS)
    )


def main(argv: list[str] | None = None) -> None:
    config = parse_options(RunConfig, argv, build_parser(RunConfig, "python -m firmware.run", __doc__, "WARNING"))
    windows = np.load(config.inputs)
    print(json.dumps(run_model(config.model, windows, config.repeat, config.opt, config.target)))


if __name__ == "__main__":
    main()
