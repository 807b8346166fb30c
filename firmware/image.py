"""Building the firmware image for one model with Debian's arm-none-eabi-gcc, and what its runtime costs in flash
and static RAM: read from the linker map, the sections the final image keeps from the runtime's own objects plus the
library members they (not the test harness) pulled in."""

from __future__ import annotations

import logging
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from device.models.manifest import SHIPPED_ASSETS
from firmware.toolchain import find_tool

log = logging.getLogger(__name__)

FIRMWARE_DIR = Path(__file__).resolve().parent
ASSETS_DIR = SHIPPED_ASSETS
#: Models the image runs, and the dtype of the windows each reads.
INPUT_DTYPES = {"mcu_lstm_int8": "int8", "lstm_int8": "int8", "linreg_q15": "int16"}
DEFAULT_OPT = "-O2"


def _tools() -> dict[str, str]:
    return {"make": find_tool("make"), "gcc": find_tool("arm-none-eabi-gcc", "gcc-arm-none-eabi")}


_INPUT_SECTION = re.compile(r"^ (?P<name>[.\w]+|COMMON)\s+0x[0-9a-f]+\s+0x(?P<size>[0-9a-f]+) (?P<file>\S+)$")


@dataclass(frozen=True)
class Footprint:
    """Bytes the runtime occupies in the linked image (its objects' kept sections and the library code they need)."""

    text: int
    data: int
    bss: int

    @property
    def flash_bytes(self) -> int:
        return self.text + self.data  # initialised data is stored in flash too

    @property
    def static_ram_bytes(self) -> int:
        return self.data + self.bss

    @classmethod
    def from_map(cls, map_text: str, runtime_objects: set[str]) -> Footprint:
        files = set(runtime_objects)
        head, _, layout = map_text.partition("Linker script and memory map")
        # "lib.a(member.o)" then, indented, the file whose reference pulled it in: follow those from the runtime.
        pulled = re.findall(r"^(\S+\.a\(\S+\))\n\s+(\S+) \(", head.partition("Discarded input sections")[0], re.M)
        grew = True
        while grew:
            grew = False
            for member, by in pulled:
                if by in files and member not in files:
                    files.add(member)
                    grew = True
        sizes = {"text": 0, "data": 0, "bss": 0}
        lines = layout.splitlines()
        for i, line in enumerate(lines):
            if re.fullmatch(r" [.\w]+", line) and i + 1 < len(lines):  # a long section name wraps its line
                line = line + lines[i + 1]
            m = _INPUT_SECTION.match(line)
            if not m or m.group("file") not in files:
                continue
            name = m.group("name")
            kind = (
                "bss"
                if name.startswith(".bss") or name == "COMMON"
                else "data"
                if name.startswith(".data")
                else "text"
                if name.startswith((".text", ".rodata"))
                else None
            )
            if kind:
                sizes[kind] += int(m.group("size"), 16)
        return cls(**sizes)


@dataclass(frozen=True)
class Image:
    model: str
    elf: Path
    runtime_objects: tuple[Path, ...]
    opt: str

    def footprint(self) -> Footprint:
        map_text = self.elf.with_name("firmware.map").read_text()
        return Footprint.from_map(map_text, {str(p) for p in self.runtime_objects})


def build(model: str, out: Path | None = None, opt: str = DEFAULT_OPT) -> Image:
    """``make`` the image (incremental); raises :class:`firmware.toolchain.ToolMissing` without the toolchain."""
    if model not in INPUT_DTYPES:
        raise ValueError(f"unknown firmware model {model!r}; known: {', '.join(INPUT_DTYPES)}")
    tools = _tools()
    out = Path(out or FIRMWARE_DIR / "build" / f"{model}{opt}").resolve()  # a directory per flag: make sees no flags
    cmd = [
        tools["make"],
        "-s",
        "-C",
        str(FIRMWARE_DIR),
        f"MODEL={model}",
        f"OUT={out}",
        f"OPT={opt}",
        f"ASSETS={ASSETS_DIR}",
        f"CC={tools['gcc']}",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"building the {model} firmware failed:\n{result.stdout}{result.stderr}")
    log.info("built %s (%s) in %s", model, opt, out)
    return Image(model, out / "firmware.elf", tuple(sorted((out / "runtime").glob("*.o"))), opt)
