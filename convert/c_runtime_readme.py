"""The part of ``firmware_assets/README.md`` about the project's own C runtime and what TFLM users must know,
rendered from the manifest (the ``m4`` figures that ``python -m firmware.measure --write-manifest`` recorded)."""

from __future__ import annotations

from device.models.manifest import Manifest

#: The firmware models and the TFLM + CMSIS-NN figures the issue measured for them (outside this repository).
TFLM_FACTS = {
    "mcu_lstm_int8": ("467,309-467,515", "~1.08 M"),
    "lstm_int8": ("249,717-249,773", "~436 K"),
    "linreg_q15": ("192 (the same `linreg.c`)", "-"),
}

_TEXT = """\
## On a microcontroller without TFLM: the project's own C runtime

`firmware/runtime/wc_model.c` / `wc_model.h` (C99, integer only, no allocation, no libc) run the int8 LSTMs with
the constants generated here: `<model>_wc.c` / `<model>_wc.h` (weights and fixed-point multipliers read from the
shipped `.tflite` by `python -m convert.c_runtime`) and the runtime's own `firmware/runtime/wc_sigmoid_table.c`
(TFLite's int16 sigmoid table, measured from tflite-micro). One forecast: quantize the window as above into
`int8_t window[seq_len][features]`, then `int8_t q; wc_predict(&wc_mcu_lstm_int8, &window[0][0], &q);` and
dequantize `q` with the output tensor's parameters. It follows TFLite Micro's integer kernels, so its outputs equal
tflite-micro's bit for bit (checked on held-out windows by `tests/test_firmware_*.py` and `python -m bench.firmware`).
Every call starts from reset state.

{table}

{measured}

## Notes for TFLM users

- **Reset the state before every window.** The fused `UNIDIRECTIONAL_SEQUENCE_LSTM` keeps its hidden and cell state
  in variable tensors between invocations: call `interpreter.Reset()` (TFLM) or `reset_all_variables()` (LiteRT)
  before each window, or the next forecast starts from the previous window's state. (`wc_predict` always starts
  from reset state.)
- **The arena in `manifest.json` was measured on x86**, with tflite-micro's Python build (PyPI), by bisection in
  16-byte steps. On a Cortex-M4 build (TFLM 90b983c2b with CMSIS-NN 4ab83cc, arm-none-eabi-gcc 12.2.1, QEMU
  mps2-an386; measured by the issue's author, not by this repository) the smallest arenas that worked were
  4,096 B (mcu_lstm_int8) and 5,344 B (lstm_int8), against the manifest's 4,592 / 6,320 for the files shipped then:
  the x86 figure covered that M4 build with 496 / 976 B to spare, but another build (compiler, TFLM version,
  kernels) allocates differently. `arena_used_bytes()` reported only 3,780 / 3,812 (it under-reports), and a
  too-small arena HardFaults on the M4 instead of returning an error. So size the arena from the manifest's
  `arena_bytes` plus a margin (we suggest 25%), never from `arena_used_bytes()`, and run a window on the target.
- TFLM + CMSIS-NN's whole image was 114,928 B of flash and 1.7 KB of stack there; the C runtime above is a few KB.
"""


def _row(manifest: Manifest, name: str) -> str:
    entry = manifest.models.get(name)
    m4 = entry.m4 if entry is not None else None
    cmsis, reference = TFLM_FACTS[name]
    if not m4:
        return f"| {name} | not measured | - | - | {cmsis} | {reference} |"
    return f"| {name} | {m4.instructions:,} | {m4.flash_bytes:,} | {m4.ram_bytes:,} | {cmsis} | {reference} |"


def render_section(manifest: Manifest) -> str:
    rows = [
        "| model | instructions / inference (this runtime) | flash bytes | RAM bytes | TFLM + CMSIS-NN "
        "instructions | TFLM reference kernels |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    rows += [_row(manifest, name) for name in TFLM_FACTS]
    measured = {e.m4.measured_on for e in manifest.models.values() if e.m4}
    note = (
        (
            "Measured by `python -m firmware.measure --write-manifest` (median over held-out windows) on "
            + "; ".join(sorted(measured))
            + ". Instructions, not cycles: QEMU has no cycle model (the Cortex-M4 "
            "manual's timings suggest ~1.0-1.4 cycles per instruction for such code). Flash: the runtime's sections "
            "kept in the linked image plus the library code they pull in; RAM: its static data plus the deepest "
            "stack one inference used. The TFLM columns are the issue's measurements (not repeated here)."
        )
        if measured
        else "Not measured yet: run `python -m firmware.measure --write-manifest`."
    )
    return _TEXT.format(table="\n".join(rows), measured=note)
