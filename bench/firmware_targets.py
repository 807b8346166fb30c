"""``python -m bench.firmware_targets``: the project's C runtime on every core of :mod:`firmware.targets`, per model:
instructions per inference (median over held-out windows, QEMU ``-icount shift=0``), cycles estimated from the
executed instruction mix with the core's published timings (:mod:`firmware.cycles`), flash and RAM, and whether the
outputs equal tflite-micro's. Prints the Markdown table of ``docs/firmware-targets.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device.options import build_parser, option, parse_options
from firmware.cycles import SOURCES, instruction_mix
from firmware.heldout import LSTM_MODELS, held_out_windows, reference_outputs
from firmware.image import build
from firmware.run import run_model
from firmware.targets import TARGETS
from train.data import DEFAULT_DATA

#: TFLM + CMSIS-NN on the emulated Cortex-M4F, as the issue measured it (not re-run here).
TFLM_CMSIS_NN_M4 = {"mcu_lstm_int8": "467 k", "lstm_int8": "-"}
MIX_WINDOWS = 2


@dataclass(frozen=True)
class TargetRow:
    model: str
    target: str
    exact: bool
    instructions: int
    cycles: int
    flash_bytes: int
    ram_bytes: int


def bench(model: str, target: str, data: Path, count: int) -> TargetRow:
    windows = held_out_windows(model, data, count)
    result = run_model(model, windows.x_q, target=target)
    instructions = int(np.median(result["instructions"]))
    mix = instruction_mix(build(model, target_name=target), windows.x_q[:MIX_WINDOWS])
    return TargetRow(
        model,
        target,
        result["outputs"] == reference_outputs(model, windows).tolist(),
        instructions,
        round(instructions * mix.cycles_per_instruction(target)),
        result["flash_bytes"],
        result["ram_bytes"],
    )


def table(rows: list[TargetRow]) -> str:
    lines = [
        "| model | target | QEMU machine | bit-exact | instructions | est. cycles | flash B | RAM B "
        "| TFLM + CMSIS-NN (M4) |",
        "|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r.model} | {r.target} | {TARGETS[r.target].machine} | {'yes' if r.exact else 'NO'} | "
            f"{r.instructions:,} | {r.cycles:,} | {r.flash_bytes:,} | {r.ram_bytes:,} | {TFLM_CMSIS_NN_M4[r.model]} |"
        )
    lines += ["", "| target | timings used for the cycle estimate |", "|---|---|"]
    lines += [f"| {t} | {SOURCES[t]} |" for t in TARGETS]
    return "\n".join(lines)


@dataclass(frozen=True)
class TargetsBenchConfig:
    data: Path = option(DEFAULT_DATA, "readings whose held-out windows are run", exists=True)
    windows: int = option(16, "held-out windows per model and target")
    models: tuple[str, ...] = option(LSTM_MODELS, "models", choices=LSTM_MODELS)
    targets: tuple[str, ...] = option(tuple(TARGETS), "cores", choices=tuple(TARGETS))


def main(argv: list[str] | None = None) -> None:
    config = parse_options(
        TargetsBenchConfig,
        argv,
        build_parser(TargetsBenchConfig, "python -m bench.firmware_targets", __doc__, "WARNING"),
    )
    print(table([bench(m, t, config.data, config.windows) for m in config.models for t in config.targets]))


if __name__ == "__main__":
    main()
