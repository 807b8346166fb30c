"""What every manifest entry says, whatever its kind: the fields the agent, the report and the energy model read.

A family (:mod:`device.families`) extends :class:`ModelEntry` with what only its kind needs (a TFLite file's tensor
types, the trend line's length) and decodes the JSON through :meth:`ModelEntry.from_dict`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from device.contract import MEASUREMENTS, MinMaxScaling, WindowSpec
from device.models.kinds import ModelKind


@dataclass(frozen=True)
class FirmwareMeasurement:
    """What the firmware measured for one model on one core (QEMU or a board): instructions per inference, the
    model's flash and RAM, and the cycles estimated from the executed instruction mix with the core's published
    timings (``cycle_timings`` names the table; :mod:`firmware.cycles`)."""

    instructions: int  # the median over ``windows`` held-out windows
    flash_bytes: int | None = None
    ram_bytes: int | None = None
    instructions_range: tuple[int, int] | None = None
    windows: int | None = None
    stack_bytes: int | None = None
    build: str = ""  # the compiler and flags of the image measured
    measured_on: str = ""  # the emulator (and machine) or the board
    cycles: int | None = None  # estimated: instructions × the mix's cycles per instruction on this core
    cycle_timings: str = ""  # the source of the timings the cycles were priced with

    def to_dict(self) -> dict[str, Any]:
        """The three figures always, the cycles and the provenance where they are known."""
        d = asdict(self)
        extras = ("instructions_range", "windows", "stack_bytes", "build", "measured_on", "cycles", "cycle_timings")
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in d.items() if k not in extras or v not in (None, "")
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FirmwareMeasurement:
        span = d.get("instructions_range")
        return cls(
            int(d["instructions"]),
            d.get("flash_bytes"),
            d.get("ram_bytes"),
            None if span is None else (int(span[0]), int(span[1])),
            d.get("windows"),
            d.get("stack_bytes"),
            d.get("build", ""),
            d.get("measured_on", ""),
            None if d.get("cycles") is None else int(d["cycles"]),
            d.get("cycle_timings", ""),
        )


#: The name the Cortex-M4F record had before there were seven targets (the manifest's ``m4`` key).
M4Measurement = FirmwareMeasurement


@dataclass(frozen=True)
class ModelEntry:
    """One deployable model: its kind, window, scaling, file (None for the fileless baselines) and costs."""

    name: str
    kind: ModelKind
    window: WindowSpec
    scaling: MinMaxScaling | None = None
    file: str | None = None
    macs: int = 0
    parameters: int = 0
    arena_bytes: int | None = None
    m4: FirmwareMeasurement | None = None
    #: Per firmware target (``cortex-m0`` ... ``rv32imc``, :mod:`firmware.targets`); ``m4`` stays for older readers.
    targets: dict[str, FirmwareMeasurement] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    #: A series model's quantile levels, one output each per step (the 0.5 is the point); empty for a point model.
    quantiles: tuple[float, ...] = ()

    @property
    def needed_measurements(self) -> tuple[str, ...]:
        """The measured (not calendar) features: what a meter must send for this model to run."""
        return tuple(f for f in self.window.features if f in MEASUREMENTS)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["kind"] = self.kind.value
        d["window"] = self.window.to_dict()
        d["scaling"] = self.scaling.to_dict() if self.scaling else None
        if self.quantiles:
            d["quantiles"] = list(self.quantiles)
        else:
            del d["quantiles"]
        if self.m4 is None:
            del d["m4"]
        else:
            d["m4"] = self.m4.to_dict()
        if self.targets:
            d["targets"] = {name: m.to_dict() for name, m in self.targets.items()}
        else:
            del d["targets"]
        return d

    def on_target(self, target: str) -> FirmwareMeasurement | None:
        """The firmware's figures on ``target``: its own record, else (a manifest from before the seven targets)
        the ``m4`` record for the Cortex-M4."""
        return self.targets.get(target) or (self.m4 if target == "cortex-m4" else None)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ModelEntry:
        """The common fields, then each field a subclass adds through :meth:`decode_extra`."""
        common = dict(
            name=d["name"],
            kind=ModelKind(d["kind"]),
            window=WindowSpec.from_dict(d["window"]),
            scaling=MinMaxScaling.from_dict(d["scaling"]) if d.get("scaling") else None,
            file=d.get("file"),
            macs=int(d.get("macs", 0)),
            parameters=int(d.get("parameters", 0)),
            arena_bytes=d.get("arena_bytes"),
            m4=FirmwareMeasurement.from_dict(d["m4"]) if d.get("m4") else None,
            targets={name: FirmwareMeasurement.from_dict(m) for name, m in (d.get("targets") or {}).items()},
            metrics=dict(d.get("metrics", {})),
            notes=d.get("notes", ""),
            quantiles=tuple(float(q) for q in d.get("quantiles", ())),
        )
        own = {f.name for f in fields(ModelEntry)}
        extra = {f.name: d[f.name] for f in fields(cls) if f.name not in own and f.name in d}
        return cls(**common, **cls.decode_extra(extra))

    @classmethod
    def decode_extra(cls, extra: dict[str, Any]) -> dict[str, Any]:
        """The JSON values of a subclass' own fields as its constructor takes them (none here)."""
        return extra
