"""``python -m bench.firmware``: the project's C runtime on the emulated Cortex-M4F against tflite-micro, on held-out
windows of the full data.

Per model: the firmware's outputs (run in qemu-system-arm mps2-an386) against the reference (tflite-micro's Python
interpreter with the state reset per window for the LSTMs; the device's Q15 predictor for linreg_q15) in output
quantisation steps, the task MSE (kW²) of both, instructions per inference (median and range), and flash and RAM
of the runtime, beside the TFLM + CMSIS-NN facts the issue measured (not repeated here). Prints a Markdown table.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convert.c_runtime_readme import TFLM_FACTS
from convert.entry_fields import entry_scaling
from convert.fidelity import task_metrics
from device.options import build_parser, option, parse_options
from firmware.heldout import MODELS, held_out_windows, reference_outputs, scaled_predictions
from firmware.measure import REPEAT
from firmware.run import run_model
from train.data import DEFAULT_DATA

#: The full UCI file where a machine has it; the bundled slice otherwise.
FULL_DATA_ENV = "WATTCAST_FULL_DATA"
DEFAULT_WINDOWS = 2000
#: TFLM + CMSIS-NN's whole firmware in the issue: flash (both models), arena per model + 1.7 KB stack.
TFLM_FLASH = "114,928 (both models)"
TFLM_RAM = {"mcu_lstm_int8": "4,096 arena + 1.7 K stack", "lstm_int8": "5,344 arena + 1.7 K stack", "linreg_q15": "-"}


@dataclass(frozen=True)
class Row:
    model: str
    windows: int
    exact: float  # share of windows with identical outputs
    within_one: float
    max_steps: int
    mse_firmware: float  # kW²
    mse_reference: float
    instructions: np.ndarray
    flash_bytes: int
    ram_bytes: int


def bench_model(model: str, data: Path, count: int) -> Row:
    windows = held_out_windows(model, data, count)
    expected = reference_outputs(model, windows)
    result = run_model(model, windows.x_q, repeat=REPEAT.get(model, 1))
    got = np.asarray(result["outputs"], dtype=np.int64)
    steps = np.abs(got - expected)
    scaling = entry_scaling(windows.entry)
    return Row(
        model=model,
        windows=len(got),
        exact=float(np.mean(steps == 0)),
        within_one=float(np.mean(steps <= 1)),
        max_steps=int(steps.max()),
        mse_firmware=task_metrics(scaled_predictions(model, got, windows), windows.y, scaling)["mse"],
        mse_reference=task_metrics(scaled_predictions(model, expected, windows), windows.y, scaling)["mse"],
        instructions=np.asarray(result["instructions"]),
        flash_bytes=result["flash_bytes"],
        ram_bytes=result["ram_bytes"],
    )


def table(rows: list[Row]) -> str:
    lines = [
        "| model | windows | bit-exact | within 1 step | max steps | task MSE firmware (kW²) | task MSE reference "
        "| instructions median (range) | TFLM + CMSIS-NN instructions | TFLM reference kernels | flash bytes | "
        "TFLM flash | RAM bytes | TFLM RAM |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        cmsis, reference = TFLM_FACTS[r.model]
        lines.append(
            f"| {r.model} | {r.windows:,} | {100 * r.exact:.2f}% | {100 * r.within_one:.2f}% | {r.max_steps} | "
            f"{r.mse_firmware:.5f} | {r.mse_reference:.5f} | {int(np.median(r.instructions)):,} "
            f"({r.instructions.min():,}-{r.instructions.max():,}) | {cmsis} | {reference} | {r.flash_bytes:,} | "
            f"{TFLM_FLASH} | {r.ram_bytes:,} | {TFLM_RAM[r.model]} |"
        )
    return "\n".join(lines)


def default_data() -> Path:
    """``$WATTCAST_FULL_DATA`` when set, else the bundled slice."""
    return Path(os.environ.get(FULL_DATA_ENV) or DEFAULT_DATA)


@dataclass(frozen=True)
class FirmwareBenchConfig:
    data: Path = option(
        default_factory=default_data,
        help="the UCI file (.txt or its .zip) or the bundled slice",
        shown=f"${FULL_DATA_ENV} when set, else the bundled slice {DEFAULT_DATA}",
        exists=True,
    )
    windows: int = option(DEFAULT_WINDOWS, "held-out windows per model")
    models: tuple[str, ...] = option(MODELS, "models to run", choices=MODELS)


def main(argv: list[str] | None = None) -> None:
    config = parse_options(
        FirmwareBenchConfig, argv, build_parser(FirmwareBenchConfig, "python -m bench.firmware", __doc__, "WARNING")
    )
    print(table([bench_model(m, config.data, config.windows) for m in config.models]))
    print(
        f"\nHeld-out windows of {config.data.name}; the firmware ran in QEMU mps2-an386 (-icount shift=0), the "
        "reference is tflite-micro's interpreter (state reset per window) or the Q15 predictor for linreg_q15. "
        "The TFLM columns are the issue's measurements."
    )


if __name__ == "__main__":
    main()
