"""Energy per inference, per day and on a battery, and the device classes a model is judged on, defined once.

Nothing here is metered. The Pi figures multiply a *measured* CPU time by the Pi's published power draw; the
Cortex-M4F figures take the time of an inference from the instructions the firmware measured (in QEMU or on a
board) when the manifest has them, else from the MAC count with ST's rule of thumb, and say which. Formulas (also
in docs/agent.md), with t the time of one inference:

- E_inf = t × P_inference, where P_inference is the draw above idle on a Pi (it idles anyway) and the whole active
  draw on an MCU (it sleeps between forecasts);  E_day = 1440 × E_inf;  duty = 1440 × t / 86 400 s
- battery days = C / (P_rest × 86 400 s + 1440 × t × (P_active − P_rest)), P_rest the idle (Pi) or sleep (MCU)
  draw, C = capacity_mAh × 3.6 × V_battery joules
- MCU time: t = instructions × cycles_per_instruction / f_clk (measured instructions), else MACs × cycles_per_MAC /
  f_clk (an estimate from the model's arithmetic alone)
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from device.models.entry import ModelEntry

PREDICTIONS_PER_DAY = 24 * 60  # one prediction a minute
SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class Battery:
    capacity_mah: float = 2000.0
    voltage: float = 3.7

    @property
    def joules(self) -> float:
        return self.capacity_mah * 3.6 * self.voltage


@dataclass(frozen=True)
class Core:
    """A microcontroller core's timing, named assumptions: ~9 cycles per MAC for a small int8 LSTM (ST's rule of
    thumb) and ~1.2 cycles per instruction for int8 kernels on a Cortex-M4F (single-cycle ALU and MAC, a few
    two-cycle loads and taken branches; zero-wait-state flash assumed)."""

    clock_hz: float = 80e6
    cycles_per_mac: float = 9.0
    cycles_per_instruction: float = 1.2


@dataclass(frozen=True)
class Budget:
    """What a model may occupy on a device: None is no limit, and a figure not known is not held against it."""

    max_flash_bytes: int | None = None
    max_arena_bytes: int | None = None
    max_parameters: int | None = None

    def admits(
        self, flash_bytes: int | None = None, arena_bytes: int | None = None, parameters: int | None = None
    ) -> bool:
        limits = (
            (flash_bytes, self.max_flash_bytes),
            (arena_bytes, self.max_arena_bytes),
            (parameters, self.max_parameters),
        )
        return all(value is None or limit is None or value <= limit for value, limit in limits)

    def text(self) -> str:
        parts = [
            f"model ≤ {self.max_flash_bytes / 1024:.0f} KiB flash" if self.max_flash_bytes is not None else "",
            f"tensor arena ≤ {self.max_arena_bytes / 1024:.0f} KiB RAM" if self.max_arena_bytes is not None else "",
            f"≤ {self.max_parameters:,} parameters" if self.max_parameters is not None else "",
        ]
        return ", ".join(p for p in parts if p) or "no size limit"


@dataclass(frozen=True)
class DeviceClass:
    """A kind of device: its power draw, what a model may occupy there, and (an MCU) its core's timing."""

    name: str
    profile: str  # the short key of its figures in the agent's metrics
    active_w: float
    rest_w: float  # idle (a Pi never sleeps) or asleep (an MCU between forecasts)
    sleeps_between_inferences: bool
    budget: Budget = field(default_factory=Budget)
    core: Core | None = None

    @property
    def inference_w(self) -> float:
        """The draw an inference adds: all of the active draw on a device that would sleep, the part above idle on
        one that idles anyway."""
        return self.active_w if self.sleeps_between_inferences else self.active_w - self.rest_w

    @property
    def mcu_core(self) -> Core:
        """The core's timing, for the MCU time of an inference; a device without one (a Pi) is refused by name."""
        if self.core is None:
            raise ValueError(f"{self.name} has no core timing: an MCU time is only defined on a microcontroller")
        return self.core


#: Raspberry Pi 4B: Raspberry Pi's figures, 0.6 A idle and 1.2 A under stress at 5.1 V; it runs anything we ship.
PI4B = DeviceClass("Raspberry Pi 4B", "pi4b", active_w=1.2 * 5.1, rest_w=0.6 * 5.1, sleeps_between_inferences=False)
#: A Cortex-M4F class MCU (e.g. STM32L4 at 80 MHz: 1 MiB flash, 128 KiB RAM), ~40 mW running, ~10 µW asleep; the
#: model may take a quarter of the flash and of the RAM, leaving room for the firmware and the radio stack.
M4F = DeviceClass(
    "Cortex-M4F MCU",
    "m4f",
    active_w=0.040,
    rest_w=10e-6,
    sleeps_between_inferences=True,
    budget=Budget(max_flash_bytes=256 * 1024, max_arena_bytes=32 * 1024),
    core=Core(),
)
DEVICE_CLASSES: tuple[DeviceClass, ...] = (PI4B, M4F)
#: Issue 7's microcontroller-sized forecaster, what the model search admits: ≤ 2,000 parameters in a 16 KiB arena.
MCU_SEARCH_BUDGET = Budget(max_arena_bytes=16 * 1024, max_parameters=2000)


@dataclass(frozen=True)
class InferenceTime:
    """How long one inference takes on a device, and where that figure comes from."""

    seconds: float
    basis: str
    measured: bool


def measured_cpu_time(seconds: float) -> InferenceTime:
    return InferenceTime(seconds, "thread CPU time, median (measured)", True)


def mcu_time(entry: ModelEntry, device: DeviceClass = M4F) -> InferenceTime | None:
    """From the firmware's measured instructions when the entry has them, else from its MACs; None with neither."""
    if entry.m4 is not None:
        core = device.mcu_core
        return InferenceTime(
            entry.m4.instructions * core.cycles_per_instruction / core.clock_hz,
            f"{entry.m4.instructions:,} measured instructions × {core.cycles_per_instruction:g} "
            f"cycles/instruction (assumed) at {core.clock_hz / 1e6:g} MHz",
            False,
        )
    if entry.macs:
        return mac_time(entry.macs, device)
    return None


def mac_time(macs: int, device: DeviceClass = M4F) -> InferenceTime:
    core = device.mcu_core
    return InferenceTime(
        macs * core.cycles_per_mac / core.clock_hz,
        f"{macs:,} MACs × {core.cycles_per_mac:g} cycles/MAC at {core.clock_hz / 1e6:g} MHz (estimated)",
        False,
    )


@dataclass(frozen=True)
class EnergyFigures:
    """One model's energy on one device class, every figure derived from ``time`` by :func:`energy`."""

    device: str
    us_per_inference: float
    uj_per_inference: float
    j_per_day: float
    duty_cycle: float
    battery_days: float
    time_basis: str
    time_measured: bool
    estimated: bool  # True unless the energy itself was metered, which nothing here does
    battery: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EnergyFigures:
        return cls(**d)


def energy(device: DeviceClass, time: InferenceTime, battery: Battery = Battery()) -> EnergyFigures:
    """The energy figures of one inference every minute on ``device`` (see the module's formulas)."""
    e_inf = time.seconds * device.inference_w
    busy_s = PREDICTIONS_PER_DAY * time.seconds
    days = battery.joules / (device.rest_w * SECONDS_PER_DAY + busy_s * (device.active_w - device.rest_w))
    return EnergyFigures(
        device.profile,
        time.seconds * 1e6,
        e_inf * 1e6,
        PREDICTIONS_PER_DAY * e_inf,
        busy_s / SECONDS_PER_DAY,
        days,
        time.basis,
        time.measured,
        True,
        f"{battery.capacity_mah:g} mAh at {battery.voltage:g} V",
    )
