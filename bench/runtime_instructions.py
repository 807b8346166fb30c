"""x86 instructions per window of the C runtime's ``wc_predict`` (and what it calls), counted by valgrind's callgrind
on the ``python -m firmware.hosted --arch x86_64`` executable over held-out windows: deterministic, unlike wall time
on a shared machine, so a change to ``firmware/runtime/`` can be judged by one run.

``python -m bench.runtime_instructions --models mcu_lstm_int8,lstm_int8 --opt "-O3"`` prints one row per model and
build. Needs valgrind (Debian ``valgrind``).
"""

from __future__ import annotations

import logging
import re
import struct
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device.options import build_parser, option, parse_options
from firmware.hosted import DEFAULT_DATA, build
from firmware.image import INPUT_DTYPES
from firmware.toolchain import find_tool

log = logging.getLogger(__name__)

#: callgrind's summary of the collected events: "Collected : <Ir>".
_COLLECTED = re.compile(r"Collected\s*:\s*(\d+)")


@dataclass(frozen=True)
class RuntimeInstructionsConfig:
    models: tuple[str, ...] = option(("mcu_lstm_int8", "lstm_int8"), "firmware LSTMs to count")
    opt: tuple[str, ...] = option(("-O3",), "gcc flags of each build (the extension gets Python's -O3)")
    windows: int = option(100, "held-out windows per run")
    data: Path = option(DEFAULT_DATA, "data file whose held-out windows are run", exists=True)


def instructions_per_window(model: str, opt: str, x_q: np.ndarray) -> float:
    """callgrind's instruction count inside ``wc_predict`` over ``x_q``, divided by the windows."""
    valgrind = find_tool("valgrind", "valgrind")
    built = build(model, "x86_64", opt)
    windows = np.ascontiguousarray(x_q, dtype=INPUT_DTYPES[model])
    with tempfile.TemporaryDirectory(prefix="wattcast-callgrind-") as tmp:
        data = Path(tmp) / "windows.bin"
        data.write_bytes(struct.pack("<II", len(windows), 1) + windows.tobytes())
        proc = subprocess.run(
            [
                valgrind,
                "--tool=callgrind",
                "--toggle-collect=wc_predict",
                f"--callgrind-out-file={Path(tmp) / 'callgrind.out'}",
                str(built.executable),
                str(data),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    found = _COLLECTED.search(proc.stderr)
    if not found:
        raise RuntimeError(f"no callgrind summary in:\n{proc.stderr}")
    return int(found.group(1)) / len(windows)


def main(argv: list[str] | None = None) -> None:
    from firmware.heldout import held_out_windows

    parser = build_parser(RuntimeInstructionsConfig, "python -m bench.runtime_instructions", __doc__)
    config = parse_options(RuntimeInstructionsConfig, argv, parser)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    rows = ["| model | build | x86 instructions per window |", "|---|---|---:|"]
    for model in config.models:
        x_q = held_out_windows(model, config.data, config.windows).x_q
        for opt in config.opt:
            rows.append(f"| {model} | `{opt}` | {instructions_per_window(model, opt, x_q):,.0f} |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
