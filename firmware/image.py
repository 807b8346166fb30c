"""Building the firmware image for one model and target with its Debian cross-compiler, and what its runtime costs
in flash and static RAM: read from the linker map, the sections the final image keeps from the runtime's own objects
plus the library members they (not the test harness) pulled in."""

from __future__ import annotations

import logging
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from device.models.manifest import SHIPPED_ASSETS
from firmware.targets import DEFAULT_TARGET, Target, target
from firmware.toolchain import find_tool

log = logging.getLogger(__name__)

FIRMWARE_DIR = Path(__file__).resolve().parent
ASSETS_DIR = SHIPPED_ASSETS
#: Models the image runs, and the dtype of the windows each reads.
INPUT_DTYPES = {"mcu_lstm_int8": "int8", "lstm_int8": "int8", "linreg_q15": "int16"}
DEFAULT_OPT = "-O2"


def _tools(core: Target) -> dict[str, str]:
    return {"make": find_tool("make"), "gcc": find_tool(*core.compiler)}


_INPUT_SECTION = re.compile(
    r"^ (?P<name>[.\w]+|COMMON)\s+0x(?P<address>[0-9a-f]+)\s+0x(?P<size>[0-9a-f]+) (?P<file>\S+)$"
)


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
        sizes = {"text": 0, "data": 0, "bss": 0}
        for name, _, size in _runtime_sections(map_text, runtime_objects):
            kind = (
                "bss"
                if name.startswith((".bss", ".sbss")) or name == "COMMON"
                else "data"
                if name.startswith((".data", ".sdata"))
                else "text"
                if name.startswith((".text", ".rodata", ".srodata"))
                else None
            )
            if kind:
                sizes[kind] += size
        return cls(**sizes)


def _runtime_sections(map_text: str, runtime_objects: set[str]) -> list[tuple[str, int, int]]:
    """(section, address, size) of every input section the image keeps from the runtime's objects and the library
    members they (not the harness) pulled in."""
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
    sections = []
    lines = layout.splitlines()
    for i, line in enumerate(lines):
        if re.fullmatch(r" [.\w]+", line) and i + 1 < len(lines):  # a long section name wraps its line
            line = line + lines[i + 1]
        m = _INPUT_SECTION.match(line)
        if m and m.group("file") in files:
            sections.append((m.group("name"), int(m.group("address"), 16), int(m.group("size"), 16)))
    return sections


def runtime_text_ranges(map_text: str, runtime_objects: set[str]) -> list[tuple[int, int]]:
    """[start, end) of the runtime's code sections: where its executed instructions are counted."""
    return [(a, a + s) for name, a, s in _runtime_sections(map_text, runtime_objects) if name.startswith(".text") and s]


@dataclass(frozen=True)
class Image:
    model: str
    elf: Path
    runtime_objects: tuple[Path, ...]
    opt: str
    target: Target

    def footprint(self) -> Footprint:
        map_text = self.elf.with_name("firmware.map").read_text()
        return Footprint.from_map(map_text, {str(p) for p in self.runtime_objects})


def build(model: str, out: Path | None = None, opt: str = DEFAULT_OPT, target_name: str = DEFAULT_TARGET) -> Image:
    """``make`` the image (incremental); raises :class:`firmware.toolchain.ToolMissing` without the toolchain."""
    core = target(target_name)
    if model not in INPUT_DTYPES:
        raise ValueError(f"unknown firmware model {model!r}; known: {', '.join(INPUT_DTYPES)}")
    tools = _tools(core)
    out = Path(out or FIRMWARE_DIR / "build" / core.name / f"{model}{opt}").resolve()  # make sees no flags
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
        f"ARCH={core.arch_flags}",
        f"PLATFORM={core.platform}",
        f"LDSCRIPT={core.linker_script}",
        f"SPECS={core.specs}",
        f"LDLIBS={core.libs}",
    ]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"building the {model} firmware failed:\n{result.stdout}{result.stderr}")
    log.info("built %s (%s, %s) in %s", model, core.name, opt, out)
    return Image(model, out / "firmware.elf", tuple(sorted((out / "runtime").glob("*.o"))), opt, core)
