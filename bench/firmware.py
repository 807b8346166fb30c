"""``python -m bench.firmware``: the project's C runtime on the emulated Cortex-M4F against tflite-micro, on held-out
windows of the full data.

Per model: the firmware's outputs (run in qemu-system-arm mps2-an386) against the reference (tflite-micro's Python
interpreter with the state reset per window for the LSTMs; the device's Q15 predictor for linreg_q15) in output
quantisation steps, the task MSE (kW²) of both, instructions per inference (median and range), and flash and RAM
of the runtime, beside the TFLM + CMSIS-NN facts the issue measured (not repeated here). Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convert.c_runtime_readme import TFLM_FACTS
from convert.fidelity import task_metrics
from firmware.heldout import MODELS, held_out_windows, reference_outputs, scaled_predictions
from firmware.measure import REPEAT
from firmware.run import run_model

log = logging.getLogger(__name__)
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "household_power_consumption.zip"
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
    scaling = windows.entry.scaling
    return Row(
        model=model, windows=len(got), exact=float(np.mean(steps == 0)), within_one=float(np.mean(steps <= 1)),
        max_steps=int(steps.max()),
        mse_firmware=task_metrics(scaled_predictions(model, got, windows), windows.y, scaling)["mse"],
        mse_reference=task_metrics(scaled_predictions(model, expected, windows), windows.y, scaling)["mse"],
        instructions=np.asarray(result["instructions"]), flash_bytes=result["flash_bytes"],
        ram_bytes=result["ram_bytes"],
    )


def table(rows: list[Row]) -> str:
    lines = ["| model | windows | bit-exact | within 1 step | max steps | task MSE firmware (kW²) | task MSE reference "
             "| instructions median (range) | TFLM + CMSIS-NN instructions | TFLM reference kernels | flash bytes | "
             "TFLM flash | RAM bytes | TFLM RAM |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        cmsis, reference = TFLM_FACTS[r.model]
        lines.append(
            f"| {r.model} | {r.windows:,} | {100 * r.exact:.2f}% | {100 * r.within_one:.2f}% | {r.max_steps} | "
            f"{r.mse_firmware:.5f} | {r.mse_reference:.5f} | {int(np.median(r.instructions)):,} "
            f"({r.instructions.min():,}-{r.instructions.max():,}) | {cmsis} | {reference} | {r.flash_bytes:,} | "
            f"{TFLM_FLASH} | {r.ram_bytes:,} | {TFLM_RAM[r.model]} |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench.firmware", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help=f"the UCI file (or the bundled slice); default {DEFAULT_DATA}")
    p.add_argument("--windows", type=int, default=DEFAULT_WINDOWS, help="held-out windows per model")
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS), help="models to run")
    p.add_argument("--log-level", default="WARNING", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(levelname)s %(name)s: %(message)s")
    print(table([bench_model(m, args.data, args.windows) for m in args.models]))
    print(f"\nHeld-out windows of {args.data.name}; the firmware ran in QEMU mps2-an386 (-icount shift=0), the "
          "reference is tflite-micro's interpreter (state reset per window) or the Q15 predictor for linreg_q15. "
          "The TFLM columns are the issue's measurements.")


if __name__ == "__main__":
    main()
