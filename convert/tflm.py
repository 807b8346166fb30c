"""Proof on a microcontroller runtime: the int8 model under TensorFlow Lite for Microcontrollers (``tflite-micro``).

Finds the smallest tensor arena that works (bisection; a too-small arena can ``abort()`` the process, so every
probe runs in a child) and runs every held-out window at that arena, resetting the LSTM state before each.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import numpy as np

from convert.isolated import ChildCrashed, run_isolated
from device.models.families.tflite import TensorInfo, dequantize, quantize

log = logging.getLogger(__name__)

#: TFLM aligns arena allocations to 16 bytes: a finer bisection would only find the same tensors.
ARENA_GRANULARITY = 16
ARENA_LIMIT = 8 * 1024 * 1024


def tflm_outputs(model_bytes: bytes, arena_size: int, x_q: np.ndarray) -> np.ndarray:
    """Raw outputs (n,) for quantized windows (n, seq_len, n_features), one invoke per window after ``reset()``.

    Runs in this process: call it through :func:`run_isolated` (or :func:`tflm_predict`).
    """
    from tflite_micro.python.tflite_micro import runtime

    interpreter = runtime.Interpreter.from_bytes(model_bytes, arena_size=arena_size)
    out = []
    for window in x_q:
        interpreter.reset()
        interpreter.set_input(window[None], 0)
        interpreter.invoke()
        out.append(interpreter.get_output(0).reshape(-1)[0])
    return np.asarray(out)


def _runs(model_bytes: bytes, arena_size: int, window_q: np.ndarray) -> bool:
    """One probe, in a throw-away child: TFLM's expected allocation errors go to /dev/null, not the console."""
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 2)
    try:
        tflm_outputs(model_bytes, arena_size, window_q[None])
    except RuntimeError:
        return False
    return True


def arena_works(model_bytes: bytes, arena_size: int, window_q: np.ndarray) -> bool:
    """Whether TFLM allocates and invokes in ``arena_size`` bytes; a crash counts as no."""
    try:
        return run_isolated(f"TFLM arena probe {arena_size} B", _runs, model_bytes, arena_size, window_q)
    except ChildCrashed:
        return False


def smallest_arena(model_bytes: bytes, window_q: np.ndarray, start: int = 1024) -> int:
    """The smallest arena (a multiple of 16 bytes) that runs one window: doubling, then bisection."""
    high = start
    while not arena_works(model_bytes, high, window_q):
        if high >= ARENA_LIMIT:
            raise RuntimeError(f"TFLM does not run this model even in {ARENA_LIMIT:,} bytes of arena")
        high *= 2
    low = 0  # known not to work (or zero)
    while high - low > ARENA_GRANULARITY:
        mid = (low + high) // 2 // ARENA_GRANULARITY * ARENA_GRANULARITY
        if arena_works(model_bytes, mid, window_q):
            high = mid
        else:
            low = mid
    return high


@dataclass(frozen=True)
class TflmProof:
    """The arena found and how TFLM's outputs compare with LiteRT's, in output quantization steps."""

    arena_bytes: int
    outputs: np.ndarray  # dequantized, scaled units
    step_histogram: list[int]  # step_histogram[k] = windows where |TFLM - LiteRT| is k steps

    @property
    def max_steps(self) -> int:
        return len(self.step_histogram) - 1

    def within(self, steps: int) -> float:
        """Fraction of windows where TFLM is within ``steps`` quantization steps of LiteRT."""
        return float(sum(self.step_histogram[: steps + 1]) / sum(self.step_histogram))


def prove_on_tflm(
    model_bytes: bytes, io: tuple[TensorInfo, TensorInfo], x: np.ndarray, litert: np.ndarray
) -> TflmProof:
    """Smallest arena, then every window of ``x`` (scaled floats) at that arena, compared with LiteRT's outputs."""
    input_info, output_info = io
    x_q = quantize(x, input_info)
    arena = smallest_arena(model_bytes, x_q[0])
    log.info("TFLM runs in %d bytes of arena", arena)
    outputs = dequantize(run_isolated("TFLM inference", tflm_outputs, model_bytes, arena, x_q), output_info)
    steps = np.rint(np.abs(outputs.astype(np.float64) - litert) / output_info.scale).astype(int)
    return TflmProof(arena, outputs, np.bincount(steps).tolist())
