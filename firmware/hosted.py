"""``python -m firmware.hosted --model mcu_lstm_int8 --arch aarch64``: the firmware's runtime built for a Linux
machine, the Raspberry Pi's aarch64 by default, as a static executable (``firmware/harness/hosted/main.c`` around the
harness's ``predict_one``) cross-compiled with ``aarch64-linux-gnu-gcc`` and run under ``qemu-aarch64`` (qemu-user);
its outputs on held-out windows are compared with tflite-micro's (the Q15 predictor's for linreg_q15). Prints one
JSON object: bit-exact or not, the build, and how many NEON vector instructions gcc put in the runtime's code.

The executable reads the firmware harness's windows file and prints ``W <output>`` per window: the host runtime of
:mod:`firmware.host` is a shared library called through ctypes, which cannot load across architectures.
"""

from __future__ import annotations

import json
import logging
import re
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device.options import build_parser, option, parse_options
from firmware.image import ASSETS_DIR, FIRMWARE_DIR, INPUT_DTYPES
from firmware.toolchain import find_tool

log = logging.getLogger(__name__)

DEFAULT_DATA = FIRMWARE_DIR.parent / "data" / "household_power_14d.txt"
DEFAULT_OPT = "-O2"
#: gcc's auto-vectoriser on: -O3 for Armv8-A (NEON is part of it; gcc's default -march for aarch64 is the same).
VECTORISED_OPT = "-O3 -march=armv8-a"
CFLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror")


@dataclass(frozen=True)
class HostedArch:
    """A Linux machine the runtime is built for: its compiler, objdump and (cross-built) the qemu-user that runs it."""

    name: str
    compiler: tuple[str, str]  # binary, Debian package
    objdump: tuple[str, str]
    runner: tuple[str, str] | None  # qemu-user binary, Debian package; None: runs here
    link_flags: tuple[str, ...]
    vector_register: re.Pattern[str]  # an operand naming a SIMD register with lanes


ARCHES = {
    "aarch64": HostedArch(
        "aarch64",
        ("aarch64-linux-gnu-gcc", "gcc-aarch64-linux-gnu"),
        ("aarch64-linux-gnu-objdump", "binutils-aarch64-linux-gnu"),
        ("qemu-aarch64", "qemu-user"),
        ("-static",),
        re.compile(r"\bv\d+\.\d*[bhsd]\b"),
    ),
    # This machine itself (no emulator): the same check natively, and a binary valgrind can count instructions of.
    "x86_64": HostedArch(
        "x86_64",
        ("x86_64-linux-gnu-gcc", "gcc"),
        ("objdump", "binutils"),
        None,
        (),
        re.compile(r"%[xyz]mm\d+"),
    ),
}


@dataclass(frozen=True)
class HostedBuild:
    model: str
    arch: HostedArch
    opt: str
    executable: Path
    runtime_object: Path  # the LSTM runtime's (or linreg's) object, for its disassembly

    @property
    def flags(self) -> str:
        return f"{self.arch.compiler[0]} {self.opt} {' '.join(self.arch.link_flags)}"


def _model_sources(model: str) -> tuple[list[Path], list[str]]:
    """The runtime's sources and the defines the harness's predict_one needs (as firmware/Makefile has them)."""
    if model == "linreg_q15":
        return [ASSETS_DIR / "linreg.c", FIRMWARE_DIR / "harness" / "predict_linreg.c"], []
    upper = model.upper()
    runtime = FIRMWARE_DIR / "runtime"
    sources = [runtime / "wc_model.c", runtime / "wc_sigmoid_table.c", ASSETS_DIR / f"{model}_wc.c"]
    defines = [
        f"-DWC_MODEL=wc_{model}",
        f'-DWC_MODEL_HEADER="{model}_wc.h"',
        f"-DWC_SEQ_LEN=WC_{upper}_SEQ_LEN",
        f"-DWC_N_FEATURES=WC_{upper}_N_FEATURES",
    ]
    return [*sources, FIRMWARE_DIR / "harness" / "predict_lstm.c"], defines


def build(model: str, arch: str = "aarch64", opt: str = DEFAULT_OPT, out: Path | None = None) -> HostedBuild:
    """Compile every source to an object and link one static executable; raises ToolMissing without the compiler."""
    if model not in INPUT_DTYPES:
        raise ValueError(f"unknown firmware model {model!r}; known: {', '.join(INPUT_DTYPES)}")
    machine = ARCHES[arch]
    gcc = find_tool(*machine.compiler)
    tag = re.sub(r"[^A-Za-z0-9]+", "_", opt).strip("_")
    out = Path(out or FIRMWARE_DIR / "build" / f"hosted-{arch}" / f"{model}-{tag}")
    out.mkdir(parents=True, exist_ok=True)
    sources, defines = _model_sources(model)
    sources.append(FIRMWARE_DIR / "harness" / "hosted" / "main.c")
    includes = [f"-I{FIRMWARE_DIR / 'runtime'}", f"-I{FIRMWARE_DIR / 'harness'}", f"-I{ASSETS_DIR}"]
    objects = []
    for source in sources:
        obj = out / f"{source.stem}.o"
        _run([gcc, *CFLAGS, *opt.split(), *defines, *includes, "-c", str(source), "-o", str(obj)])
        objects.append(obj)
    executable = out / "wattcast-hosted"
    _run([gcc, *opt.split(), *machine.link_flags, "-o", str(executable), *map(str, objects), "-lm"])
    log.info("built %s for %s (%s) in %s", model, arch, opt, out)
    return HostedBuild(model, machine, opt, executable, objects[0])


def _run(cmd: list[str]) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{result.stdout}{result.stderr}")


def run(built: HostedBuild, windows: np.ndarray) -> np.ndarray:
    """The raw output of every window (int8 for the LSTMs, the Q15 accumulator for linreg_q15), run under the
    architecture's qemu-user."""
    windows = np.ascontiguousarray(windows, dtype=INPUT_DTYPES[built.model])
    runner = [find_tool(*built.arch.runner)] if built.arch.runner else []
    with tempfile.TemporaryDirectory(prefix="wattcast-hosted-") as tmp:
        path = Path(tmp) / "windows.bin"
        path.write_bytes(struct.pack("<II", len(windows), 1) + windows.tobytes())
        proc = subprocess.run([*runner, str(built.executable), str(path)], capture_output=True, text=True, timeout=300)
    if proc.returncode != 0:
        raise RuntimeError(f"{built.executable} exited with {proc.returncode}: {proc.stderr.strip()}")
    lines = proc.stdout.split("\n")
    outputs = [int(line.split()[1]) for line in lines if line.startswith("W ")]
    if f"E {len(windows)}" not in lines or len(outputs) != len(windows):
        raise RuntimeError(f"{built.executable} stopped after {len(outputs)} of {len(windows)} windows")
    return np.array(outputs, dtype=np.int64)


def vector_instructions(built: HostedBuild) -> int:
    """How many instructions of the runtime's object work on SIMD registers with lanes (NEON's ``v0.4s`` ...): what
    gcc's auto-vectoriser made of the portable C loop."""
    objdump = find_tool(*built.arch.objdump)
    listing = subprocess.run(
        [objdump, "-d", str(built.runtime_object)], capture_output=True, text=True, check=True
    ).stdout
    return sum(1 for line in listing.splitlines() if "\t" in line and built.arch.vector_register.search(line))


@dataclass(frozen=True)
class HostedConfig:
    model: str = option("mcu_lstm_int8", "which model", choices=sorted(INPUT_DTYPES))
    arch: str = option("aarch64", "the Linux machine to build for", choices=tuple(ARCHES))
    opt: str = option(DEFAULT_OPT, f"gcc optimisation flags (e.g. '{VECTORISED_OPT}')")
    windows: int = option(400, "held-out windows to compare with the reference")
    data: Path = option(DEFAULT_DATA, "data file whose held-out windows are run", exists=True)


def check(config: HostedConfig) -> dict[str, object]:
    """Build, run the held-out windows, compare with the reference: the JSON the command prints."""
    from firmware.heldout import held_out_windows, reference_outputs

    built = build(config.model, config.arch, config.opt)
    windows = held_out_windows(config.model, config.data, config.windows)
    outputs, expected = run(built, windows.x_q), reference_outputs(config.model, windows)
    return {
        "model": config.model,
        "arch": config.arch,
        "build": built.flags,
        "windows": len(outputs),
        "bit_exact": bool(np.array_equal(outputs, expected)),
        "largest_difference": int(np.abs(outputs - expected).max(initial=0)),
        "vector_instructions": vector_instructions(built),
    }


def main(argv: list[str] | None = None) -> None:
    config = parse_options(HostedConfig, argv, build_parser(HostedConfig, "python -m firmware.hosted", __doc__))
    print(json.dumps(check(config)))


if __name__ == "__main__":
    main()
