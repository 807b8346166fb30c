"""Running windows through a firmware image in its target's QEMU machine (``qemu-system-arm -M mps2-an386`` for the
default Cortex-M4F) and reading back, per window, the output, the instructions it took and its stack high-water mark.

Under ``-icount shift=0`` every instruction advances the virtual clock by 1 ns, so the SysTick (on the 25 MHz
processor clock of the mps2-an386) steps once per 40 instructions; RISC-V's ``minstret`` steps once per instruction.
The harness times a loop of known length first, which must agree with the target's step
(:attr:`firmware.targets.Target.instructions_per_step`). QEMU has no cycle model: these are instructions, not
cycles (:mod:`firmware.cycles` estimates those).
"""

from __future__ import annotations

import logging
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from firmware.image import Image
from firmware.toolchain import find_tool

log = logging.getLogger(__name__)

QEMU_ARGS = (
    "-nographic",
    "-monitor",
    "none",
    "-serial",
    "none",
    "-semihosting-config",
    "enable=on,target=native",
    "-icount",
    "shift=0",
)
#: Seconds QEMU may take per window before we call it hung (generous: an LSTM window is well under 10 ms here).
SECONDS_PER_WINDOW = 0.5
MIN_TIMEOUT = 30.0


class FirmwareError(RuntimeError):
    """The emulated firmware faulted, refused a window or printed something unexpected."""


@dataclass(frozen=True)
class Run:
    outputs: np.ndarray  # (n,) int32
    instructions: np.ndarray  # (n,) per inference
    stack_bytes: int  # the largest stack depth of one inference
    instructions_per_tick: float  # the measured SysTick step
    qemu_version: str


#: How far the calibration loop may stray from the target's step (SysTick reads cost a step or two).
CALIBRATION_TOLERANCE = 0.01


def qemu_version(binary: str) -> str:
    out = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    return out.splitlines()[0].strip() if out else f"{Path(binary).name} (unknown version)"


def command(image: Image) -> list[str]:
    """The QEMU command line that runs ``image`` (in a directory holding its windows.bin)."""
    qemu = find_tool(*image.target.qemu)
    return [qemu, *image.target.qemu_args, *QEMU_ARGS, "-kernel", str(image.elf)]


def _parse(console: str, n: int) -> tuple[float, list[tuple[int, ...]]]:
    """The harness's lines (C, W, E; ERROR or FAULT raise); anything else is QEMU's own and only logged. Returns the
    calibrated instructions per clock step and the window rows."""
    calibration, windows, ended = None, [], False
    for line in console.splitlines():
        tag, *values = line.split() or [""]
        if tag == "C":
            calibration = int(values[1]) / max(int(values[0]), 1)
        elif tag == "W":
            windows.append(tuple(int(v) for v in values))
        elif tag == "E":
            ended = int(values[0]) == n
        elif tag in ("ERROR", "FAULT"):
            raise FirmwareError(f"the firmware said: {line}")
        elif line.strip():
            log.debug("qemu: %s", line)
    if calibration is None or not ended or len(windows) != n:
        raise FirmwareError(f"the firmware stopped after {len(windows)} of {n} windows:\n{console[-2000:]}")
    return calibration, windows


def run(image: Image, windows: np.ndarray, repeat: int = 1) -> Run:
    """Every window through the image, each from reset state; ``repeat`` > 1 times each window that many times (the
    total divided by ``repeat``: one SysTick step is 40 instructions on the M4)."""
    windows = np.ascontiguousarray(windows)
    n = len(windows)
    cmd = command(image)
    with tempfile.TemporaryDirectory(prefix="wattcast-qemu-") as tmp:
        (Path(tmp) / "windows.bin").write_bytes(struct.pack("<II", n, repeat) + windows.tobytes())
        timeout = max(MIN_TIMEOUT, SECONDS_PER_WINDOW * n * repeat)
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=timeout)
    console = proc.stdout + proc.stderr  # QEMU writes the semihosting console to stderr
    if proc.returncode != 0:
        raise FirmwareError(f"qemu exited with {proc.returncode}:\n{console[-2000:]}")
    calibrated, rows = _parse(console, n)
    per_tick = image.target.instructions_per_step
    if abs(calibrated / per_tick - 1) > CALIBRATION_TOLERANCE:
        raise FirmwareError(f"{image.target.name}: one clock step is {calibrated:.3f} instructions, not {per_tick}")
    outputs, ticks, stack = (
        (np.array(column, dtype=np.int64) for column in zip(*rows)) if rows else (np.zeros(0, np.int64),) * 3
    )
    instructions = np.rint(ticks * per_tick / repeat).astype(np.int64)
    log.info("%s: %d windows in QEMU, median %d instructions", image.model, n, int(np.median(instructions)) if n else 0)
    return Run(outputs, instructions, int(stack.max(initial=0)), per_tick, qemu_version(cmd[0]))
