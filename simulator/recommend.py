"""Which model to deploy, computed from the measured figures, per device class.

The rule: among the models that fit the device's budget, take the best online MSE; every model whose MSE is within
``margin`` of it is "as good"; of those, pick the cheapest (energy per inference on that device, then time per
inference there, then flash bytes, then MACs). On a microcontroller the time comes from the cycles the firmware's
instruction mix costs on that device's core (:func:`device.energy.mcu_time`); where the device class has no power
figure the time decides. No model name is written here: a different run can give a different answer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from device.energy import DeviceClass
from simulator.units import duration_us, energy_uj, size_bytes

#: "Within 2% of the best MSE": smaller than the spread between runs of the same LSTM, larger than int8 rounding.
DEFAULT_MARGIN = 0.02


@dataclass(frozen=True)
class Candidate:
    """What the rule needs to know about one model on one device class."""

    name: str
    mse: float
    energy_uj: float | None
    energy_estimated: bool
    flash_bytes: int
    ram_bytes: int | None
    macs: int
    time_us: float | None = None  # per inference on the device (estimated on an MCU)


@dataclass(frozen=True)
class Recommendation:
    device: str
    model: str | None
    reason: str
    best_model: str | None
    best_mse: float | None
    margin: float
    considered: tuple[str, ...]

    def to_dict(self) -> dict:
        return asdict(self)


def _cost(c: Candidate) -> tuple[float, float, int, int]:
    unknown = math.inf
    return (
        unknown if c.energy_uj is None else c.energy_uj,
        unknown if c.time_us is None else c.time_us,
        c.flash_bytes,
        c.macs,
    )


def _price(c: Candidate) -> str:
    """What the pick costs per inference: its energy, else (no power figure) its time, else that nothing is known."""
    estimated = " (estimated)" if c.energy_estimated else ""
    if c.energy_uj is not None:
        return f"{energy_uj(c.energy_uj)} per inference{estimated}"
    if c.time_us is not None:
        return f"{duration_us(c.time_us)} per inference{estimated}, no power figure so the time decides"
    return "unknown energy"


def _fits(c: Candidate, device: DeviceClass) -> bool:
    return device.budget.admits(flash_bytes=c.flash_bytes, arena_bytes=c.ram_bytes) and math.isfinite(c.mse)


def recommend(candidates: Sequence[Candidate], device: DeviceClass, margin: float = DEFAULT_MARGIN) -> Recommendation:
    """The cheapest model on ``device`` whose online MSE is within ``margin`` (relative) of the best that fits."""
    fitting = [c for c in candidates if _fits(c, device)]
    if not fitting:
        return Recommendation(
            device.name,
            None,
            f"No model fits the {device.name} budget ({device.budget.text()}).",
            None,
            None,
            margin,
            (),
        )
    best = min(fitting, key=lambda c: c.mse)
    good = [c for c in fitting if c.mse <= best.mse * (1 + margin)]
    pick = min(good, key=_cost)
    energy = _price(pick)
    if pick is best:
        why = f"it has the lowest online MSE ({best.mse:.4f}) of the {len(fitting)} models that fit"
    else:
        why = (
            f"its online MSE {pick.mse:.4f} is within {margin:.0%} of the best ({best.name}, {best.mse:.4f}), "
            f"and it is the cheapest of the {len(good)} that are"
        )
    reason = f"{pick.name}: {why}, at {energy} and {size_bytes(pick.flash_bytes)} of model."
    return Recommendation(device.name, pick.name, reason, best.name, best.mse, margin, tuple(c.name for c in fitting))
