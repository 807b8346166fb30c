"""The seven cores the firmware runs on: each one's cross-compiler and flags, the QEMU machine that emulates it, its
memory map (linker script), how many instructions one step of its clock is under ``-icount shift=0``, (its
cycles are estimated in :mod:`firmware.cycles`).

The clock: on Arm the SysTick on the processor clock, so one step is ``1e9 / clock_hz`` instructions (QEMU advances
the virtual clock 1 ns per instruction); on RISC-V the ``minstret`` counter, one step per instruction. The harness
calibrates the step on a loop of known length and :mod:`firmware.qemu` checks it against this value.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Target:
    name: str
    core: str  # what to call it in a table
    platform: str  # the harness's start-up and semihosting: harness/<platform>/
    compiler: tuple[str, str]  # binary, Debian package
    arch_flags: str
    linker_script: str  # relative to firmware/
    specs: str  # link-time C library specs: newlib nano (Arm); picolibc's (RISC-V) sit in arch_flags, for its headers
    libs: str
    qemu: tuple[str, str]  # binary, Debian package
    qemu_args: tuple[str, ...]  # the machine and what it needs besides -nographic, semihosting, -icount
    instructions_per_step: float

    @property
    def machine(self) -> str:
        return self.qemu_args[self.qemu_args.index("-M") + 1]

    @property
    def build(self) -> str:
        """The compiler and flags, as the JSON and the manifest record them."""
        return f"{self.compiler[0]} {{opt}} {self.arch_flags}"


_ARM_GCC = ("arm-none-eabi-gcc", "gcc-arm-none-eabi")
_RISCV_GCC = ("riscv64-unknown-elf-gcc", "gcc-riscv64-unknown-elf")
_QEMU_ARM = ("qemu-system-arm", "qemu-system-arm")
_QEMU_RISCV = ("qemu-system-riscv32", "qemu-system-misc")
_NEWLIB = "--specs=nano.specs"


def _arm(name: str, core: str, flags: str, script: str, machine: str, clock_hz: float) -> Target:
    return Target(
        name,
        core,
        "arm",
        _ARM_GCC,
        f"-mcpu={name} -mthumb {flags}".strip(),
        f"harness/arm/{script}",
        _NEWLIB,
        "-lm",
        _QEMU_ARM,
        ("-M", machine),
        1e9 / clock_hz,
    )


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        _arm("cortex-m0", "Cortex-M0 (nRF51822)", "-mfloat-abi=soft", "microbit.ld", "microbit", 16e6),
        _arm("cortex-m3", "Cortex-M3", "-mfloat-abi=soft", "mps2.ld", "mps2-an385", 25e6),
        _arm(
            "cortex-m4",
            "Cortex-M4F",
            "-mfpu=fpv4-sp-d16 -mfloat-abi=hard",
            "mps2.ld",
            "mps2-an386",
            25e6,
        ),
        _arm("cortex-m7", "Cortex-M7", "-mfpu=fpv5-d16 -mfloat-abi=hard", "mps2.ld", "mps2-an500", 25e6),
        _arm(
            "cortex-m33",
            "Cortex-M33",
            "-mfpu=fpv5-sp-d16 -mfloat-abi=hard",
            "mps2_an505.ld",
            "mps2-an505",
            20e6,
        ),
        _arm("cortex-m55", "Cortex-M55 (Helium)", "-mfloat-abi=hard", "mps3_an547.ld", "mps3-an547", 32e6),
        Target(
            "rv32imc",
            "RV32IMC",
            "riscv",
            _RISCV_GCC,
            "-march=rv32imc -mabi=ilp32 -mcmodel=medany --specs=picolibc.specs",
            "harness/riscv/virt.ld",
            "",
            "-lc -lgcc",
            _QEMU_RISCV,
            ("-M", "virt", "-bios", "none"),
            1.0,
        ),
    )
}
DEFAULT_TARGET = "cortex-m4"


def target(name: str) -> Target:
    try:
        return TARGETS[name]
    except KeyError:
        raise ValueError(f"unknown target {name!r}; known: {', '.join(TARGETS)}") from None
