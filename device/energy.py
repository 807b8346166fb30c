"""Energy per inference, per day and on a battery, and the device classes a model is judged on, defined once.

Nothing here is metered. The Pi figures multiply a *measured* CPU time by the Pi's published power draw; a
microcontroller class takes the time of an inference from the cycles the manifest records for its firmware target
(instructions measured in QEMU, priced with the core's published timings: :mod:`firmware.cycles`) at its clock, else
(the Cortex-M4F of a manifest from before the seven targets) from the measured instructions at an assumed 1.2 cycles
each, else from the MAC count with ST's rule of thumb, and says which. A class whose vendor publishes no power figure
we could cite has none: its time is computed, its energy is not (None, shown as "not given"). Formulas (also in
docs/agent.md), with t the time of one inference:

- E_inf = t × P_inference, where P_inference is the draw above idle on a Pi (it idles anyway) and the whole active
  draw on an MCU (it sleeps between forecasts);  E_day = 1440 × E_inf;  duty = 1440 × t / 86 400 s
- battery days = C / (P_rest × 86 400 s + 1440 × t × (P_active − P_rest)), P_rest the idle (Pi) or sleep (MCU)
  draw, C = capacity_mAh × 3.6 × V_battery joules
- MCU time: t = cycles / f_clk (the target's estimated cycles), else instructions × cycles_per_instruction / f_clk
  (the M4's measured instructions), else MACs × cycles_per_MAC / f_clk (an estimate from the arithmetic alone)
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
    """A microcontroller core's timing: its clock, the firmware target (:mod:`firmware.targets`) whose measured cycles
    it runs, and two named assumptions for models without them: ~9 cycles per MAC for a small int8 LSTM (ST's rule of
    thumb) and ~1.2 cycles per instruction for int8 kernels on a Cortex-M4F (single-cycle ALU and MAC, a few
    two-cycle loads and taken branches; zero-wait-state flash assumed)."""

    clock_hz: float = 80e6
    cycles_per_mac: float = 9.0
    cycles_per_instruction: float = 1.2
    target: str = "cortex-m4"
    note: str = ""  # how the target's figures stand for this core, where they are not its own


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
    active_w: float | None  # None: no power figure we could cite (its energy is then not computed)
    rest_w: float | None  # idle (a Pi never sleeps) or asleep (an MCU between forecasts)
    sleeps_between_inferences: bool
    budget: Budget = field(default_factory=Budget)
    core: Core | None = None
    sources: str = ""  # where its clock, memory and power figures come from

    @property
    def has_power(self) -> bool:
        return self.active_w is not None and self.rest_w is not None

    @property
    def inference_w(self) -> float:
        """The draw an inference adds: all of the active draw on a device that would sleep, the part above idle on
        one that idles anyway. A device without power figures is refused by name."""
        if self.active_w is None or self.rest_w is None:
            raise ValueError(f"{self.name}: no power figure is given, so no energy is computed")
        return self.active_w if self.sleeps_between_inferences else self.active_w - self.rest_w

    def describe(self) -> str:
        """Its clock and power figures (or that they are not given), for the report."""
        clock = f"{self.core.clock_hz / 1e6:g} MHz, firmware target `{self.core.target}`" if self.core else ""
        if self.active_w is None or self.rest_w is None:
            power = "power not given (time only)"
        else:
            rest = "asleep" if self.sleeps_between_inferences else "idle"
            power = f"{self.active_w * 1e3:g} mW running, {self.rest_w * 1e3:g} mW {rest}"
        return "; ".join(p for p in (clock, power, self.core.note if self.core else "") if p)

    @property
    def mcu_core(self) -> Core:
        """The core's timing, for the MCU time of an inference; a device without one (a Pi) is refused by name."""
        if self.core is None:
            raise ValueError(f"{self.name} has no core timing: an MCU time is only defined on a microcontroller")
        return self.core


#: Raspberry Pi 4B: Raspberry Pi's figures, 0.6 A idle and 1.2 A under stress at 5.1 V; it runs anything we ship.
PI4B = DeviceClass(
    "Raspberry Pi 4B",
    "pi4b",
    active_w=1.2 * 5.1,
    rest_w=0.6 * 5.1,
    sleeps_between_inferences=False,
    sources="Raspberry Pi 4B: 0.6 A idle, 1.2 A under stress at 5.1 V (Raspberry Pi's documentation)",
)
#: The microcontroller classes below let a model take a quarter of the flash and of the RAM, leaving room for the
#: firmware and the radio stack. Each runs the firmware target named in its core.
#:
#: Cortex-M0+ (RP2040 class): 133 MHz, 264 KB SRAM, external QSPI flash (2 MB on the Pico) (RP2040 datasheet,
#: chapter 1). No power figure is cited: the datasheet's table 5.4 gives currents for demo programs (a media player,
#: BOOTSEL mode), not for a CPU running code, so the class has time only. It runs the ``cortex-m0`` build: the M0+
#: executes the same ARMv6-M code, and the M0's timings (3-cycle taken branch, 2 on the M0+'s 2-stage pipeline) make
#: its cycles an upper bound.
M0PLUS = DeviceClass(
    "Cortex-M0+ MCU (RP2040 class)",
    "m0plus",
    active_w=None,
    rest_w=None,
    sleeps_between_inferences=True,
    budget=Budget(max_flash_bytes=512 * 1024, max_arena_bytes=64 * 1024),
    core=Core(
        clock_hz=133e6,
        target="cortex-m0",
        note="cycles of the Cortex-M0 build and timings: an upper bound for the M0+ (2-cycle taken branches)",
    ),
    sources="RP2040 datasheet (Raspberry Pi Ltd), ch. 1: dual Cortex-M0+ up to 133 MHz, 264 KB SRAM",
)
#: A Cortex-M4F class MCU (e.g. STM32L4 at 80 MHz: 1 MiB flash, 128 KiB RAM), ~40 mW running, ~10 µW asleep (the
#: project's earlier round figures, kept so that older reports compare; not taken from one datasheet).
M4F = DeviceClass(
    "Cortex-M4F MCU",
    "m4f",
    active_w=0.040,
    rest_w=10e-6,
    sleeps_between_inferences=True,
    budget=Budget(max_flash_bytes=256 * 1024, max_arena_bytes=32 * 1024),
    core=Core(),
    sources="STM32L476 (ST datasheet DS10198): Cortex-M4F up to 80 MHz, 1 MiB flash, 128 KiB SRAM; "
    "power: the project's round figures (40 mW running, 10 µW asleep), not a datasheet value",
)
#: Cortex-M33 (nRF5340 / STM32U5 class): the nRF5340's application core runs at up to 128 MHz with 1 MB flash and
#: 512 KB RAM (nRF5340 Product Specification). No power figure is cited here (the product specification's run
#: currents depend on the cache, the regulator and the clock source; we have not pinned one down): time only.
M33 = DeviceClass(
    "Cortex-M33 MCU (nRF5340 / STM32U5 class)",
    "m33",
    active_w=None,
    rest_w=None,
    sleeps_between_inferences=True,
    budget=Budget(max_flash_bytes=256 * 1024, max_arena_bytes=128 * 1024),
    core=Core(clock_hz=128e6, target="cortex-m33"),
    sources="nRF5340 Product Specification (Nordic): application core Cortex-M33 up to 128 MHz, 1 MB flash, 512 KB RAM",
)
#: RV32IMC (ESP32-C3 class): one RISC-V core at up to 160 MHz, 400 KB SRAM, external or in-package flash (4 MB on
#: the ESP32-C3FH4) (ESP32-C3 datasheet, Espressif). Its run current with the radio off is not cited here: time only.
ESP32C3 = DeviceClass(
    "RV32IMC MCU (ESP32-C3 class)",
    "esp32c3",
    active_w=None,
    rest_w=None,
    sleeps_between_inferences=True,
    budget=Budget(max_flash_bytes=1024 * 1024, max_arena_bytes=96 * 1024),
    core=Core(
        clock_hz=160e6,
        target="rv32imc",
        note="cycles priced with the lowRISC Ibex timings (Espressif publishes none for the ESP32-C3's core)",
    ),
    sources="ESP32-C3 datasheet (Espressif): 32-bit RISC-V (RV32IMC) up to 160 MHz, 400 KB SRAM, 4 MB flash "
    "in the FH4 package",
)
DEVICE_CLASSES: tuple[DeviceClass, ...] = (PI4B, M0PLUS, M4F, M33, ESP32C3)
MCU_CLASSES: tuple[DeviceClass, ...] = tuple(d for d in DEVICE_CLASSES if d.core is not None)
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
    """From the cycles the manifest records for the device's firmware target, else (the M4 of an older manifest)
    from the firmware's measured instructions at an assumed cycles per instruction, else from its MACs; None with
    none of them."""
    core = device.mcu_core
    measured = entry.on_target(core.target)
    if measured is not None and measured.cycles is not None:
        return InferenceTime(
            measured.cycles / core.clock_hz,
            f"{measured.cycles:,} cycles on {core.target} (its {measured.instructions:,} measured instructions "
            f"priced with its published timings; estimated) at {core.clock_hz / 1e6:g} MHz",
            False,
        )
    if measured is not None:
        return InferenceTime(
            measured.instructions * core.cycles_per_instruction / core.clock_hz,
            f"{measured.instructions:,} measured instructions × {core.cycles_per_instruction:g} "
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
    uj_per_inference: float | None  # None: the device class has no power figure
    j_per_day: float | None
    duty_cycle: float
    battery_days: float | None
    time_basis: str
    time_measured: bool
    estimated: bool  # True unless the energy itself was metered, which nothing here does
    battery: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> EnergyFigures:
        return cls(**d)


def inference_uj(device: DeviceClass, time: InferenceTime) -> float:
    """Energy of one inference in µJ; a device without power figures is refused by name."""
    return time.seconds * device.inference_w * 1e6


def energy(device: DeviceClass, time: InferenceTime, battery: Battery = Battery()) -> EnergyFigures:
    """The energy figures of one inference every minute on ``device`` (see the module's formulas); on a device
    without power figures only the time and the duty cycle."""
    busy_s = PREDICTIONS_PER_DAY * time.seconds
    e_inf = days = None
    if device.active_w is not None and device.rest_w is not None:
        e_inf = inference_uj(device, time) / 1e6
        days = battery.joules / (device.rest_w * SECONDS_PER_DAY + busy_s * (device.active_w - device.rest_w))
    return EnergyFigures(
        device.profile,
        time.seconds * 1e6,
        None if e_inf is None else e_inf * 1e6,
        None if e_inf is None else PREDICTIONS_PER_DAY * e_inf,
        busy_s / SECONDS_PER_DAY,
        days,
        time.basis,
        time.measured,
        True,
        f"{battery.capacity_mah:g} mAh at {battery.voltage:g} V",
    )
