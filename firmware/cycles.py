"""Estimated cycles per inference: the runtime's executed instruction mix, read from QEMU's translation and execution
log (``-d in_asm,exec,nochain``: every translated block's instructions, then every block run), priced with each core's
published instruction timings. Approximate: QEMU models no pipeline, cache or wait state; the tables' ranges are
taken at their midpoints and every branch is charged as taken. The sources are in ``docs/firmware-targets.md``.
"""

from __future__ import annotations

import re
import struct
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from firmware.image import Image
from firmware.qemu import command

#: Cycles per instruction class. Arm: Cortex-M0 TRM (DDI 0432C) table 3-1, Cortex-M3 TRM (DDI 0337I) table 18-1,
#: Cortex-M4 TRM (DDI 0439B) table 3-1 (P, the pipeline refill, is 1-3: 2 here; MULL 3-5 on the M3: 4; divide 2-12: 7).
#: N is the number of registers moved. RV32IMC: lowRISC Ibex's "Pipeline Details" (zero-wait memory, the "fast"
#: multiplier). Cortex-M7, M33 and M55: Arm publishes no per-instruction table; the M4's is used.
_M4: dict[str, float] = {
    "alu": 1,
    "mul": 1,
    "mac": 1,
    "mull": 1,
    "div": 7,
    "load": 2,
    "store": 2,
    "pair": 3,
    "multi": 1,
    "branch": 3,
}
TIMINGS: dict[str, dict[str, float]] = {
    "cortex-m0": {"alu": 1, "mul": 1, "load": 2, "store": 2, "multi": 1, "branch": 3},
    "cortex-m3": {**_M4, "mac": 2, "mull": 4},
    "cortex-m4": _M4,
    "cortex-m7": _M4,
    "cortex-m33": _M4,
    "cortex-m55": _M4,
    "rv32imc": {"alu": 1, "mul": 3, "mulh": 4, "div": 38, "load": 2, "store": 2, "branch": 2},
}
SOURCES = {
    "cortex-m0": "Cortex-M0 TRM (Arm DDI 0432C), table 3-1, fast multiplier",
    "cortex-m3": "Cortex-M3 TRM (Arm DDI 0337I), table 18-1",
    "cortex-m4": "Cortex-M4 TRM (Arm DDI 0439B), table 3-1",
    "cortex-m7": "none published; the Cortex-M4 table (dual issue not modelled)",
    "cortex-m33": "none published; the Cortex-M4 table",
    "cortex-m55": "none published; the Cortex-M4 table (MVE beats not modelled)",
    "rv32imc": "lowRISC Ibex documentation, Pipeline Details (zero-wait memory, fast multiplier)",
}

_ARM_CLASSES = (
    (re.compile(r"^(sdiv|udiv)$"), "div"),
    (re.compile(r"^(smull|umull|smlal|umlal|smlald|smlsld)"), "mull"),
    (re.compile(r"^(mla|mls|smla|smlsd|smmla)"), "mac"),
    (re.compile(r"^(mul|smul|smmul)"), "mul"),
    (re.compile(r"^(ldrd|strd)$"), "pair"),
    (re.compile(r"^(ldm|stm|push|pop)"), "multi"),
    (re.compile(r"^ldr"), "load"),
    (re.compile(r"^str"), "store"),
    (re.compile(r"^(b|bl|bx|blx|cbz|cbnz)$|^b(eq|ne|cs|hs|cc|lo|mi|pl|vs|vc|hi|ls|ge|lt|gt|le)$"), "branch"),
)
_RISCV_CLASSES = (
    (re.compile(r"^(div|divu|rem|remu)$"), "div"),
    (re.compile(r"^mulh"), "mulh"),
    (re.compile(r"^mul$"), "mul"),
    (re.compile(r"^(lb|lh|lw|lbu|lhu|c\.lw|c\.lwsp)$"), "load"),
    (re.compile(r"^(sb|sh|sw|c\.sw|c\.swsp)$"), "store"),
    (
        re.compile(r"^(beq|bne|blt|bge|bltu|bgeu|jal|jalr|j|jr|ret|c\..*(j|jal|jr|jalr|beqz|bnez))$|^(beqz|bnez)"),
        "branch",
    ),
)
_HEX = re.compile(r"^[0-9a-f]{4}$|^[0-9a-f]{8}$")


def classify(platform: str, mnemonic: str, operands: str) -> tuple[str, int]:
    """The timing class of one instruction and, for the Arm multi-register moves, how many registers it moves
    plus one (a ``pop`` that loads the pc also refills the pipeline)."""
    name = mnemonic.split(".")[0] if platform == "arm" else mnemonic
    for pattern, kind in _ARM_CLASSES if platform == "arm" else _RISCV_CLASSES:
        if pattern.search(name):
            if kind == "multi":
                return kind, 1 + operands.count(",") + 1 + (2 if "pc" in operands else 0)  # 1 + N (+ P)
            return kind, 1
    return "alu", 1


@dataclass(frozen=True)
class Mix:
    """Executed instructions of the runtime, per timing class (a multi-register move counts its registers)."""

    instructions: int
    classes: dict[str, int]

    def cycles(self, target: str) -> float:
        table = TIMINGS[target]
        return float(sum(table.get(kind, table.get("mul", 1)) * n for kind, n in self.classes.items()))

    def cycles_per_instruction(self, target: str) -> float:
        return self.cycles(target) / self.instructions


def _runtime_ranges(image: Image) -> list[tuple[int, int]]:
    """Address ranges of the runtime's code in the image (its objects' and their library members' text)."""
    from firmware.image import runtime_text_ranges

    return runtime_text_ranges(image.elf.with_name("firmware.map").read_text(), {str(p) for p in image.runtime_objects})


def parse_log(log: str, platform: str, ranges: list[tuple[int, int]]) -> Mix:
    blocks: dict[int, list[tuple[str, int]]] = {}
    counts: Counter[str] = Counter()
    executed = 0
    current: list[tuple[str, int]] | None = None
    start = None
    for line in log.splitlines():
        if line.startswith("IN:"):
            current, start = [], None
        elif current is not None and line.startswith("0x"):
            address, _, rest = line.partition(":")
            fields = [f for f in rest.split() if not _HEX.match(f)]
            if start is None:
                start = int(address, 16)
                blocks[start] = current
            if fields:
                kind, weight = classify(platform, fields[0], " ".join(fields[1:]))
                current.append((kind, weight))
        elif line.startswith("Trace"):
            current = None
            pc = int(line.split("[")[1].split("/")[1], 16)
            if any(lo <= pc < hi for lo, hi in ranges):
                for kind, weight in blocks.get(pc, ()):
                    counts[kind] += weight
                    executed += 1
        else:
            current = current if line.strip() else None
    return Mix(executed, dict(counts))


def instruction_mix(image: Image, windows: np.ndarray) -> Mix:
    """The runtime's instruction mix over ``windows`` (a few suffice: the mix barely varies)."""
    windows = np.ascontiguousarray(windows)
    with tempfile.TemporaryDirectory(prefix="wattcast-mix-") as tmp:
        (Path(tmp) / "windows.bin").write_bytes(struct.pack("<II", len(windows), 1) + windows.tobytes())
        cmd = command(image)
        cmd[-2:-2] = ["-d", "in_asm,exec,nochain", "-D", str(Path(tmp) / "qemu.log")]
        subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=300, check=True)
        log = (Path(tmp) / "qemu.log").read_text(errors="replace")
    return parse_log(log, image.target.platform, _runtime_ranges(image))
