"""One row per model, from the agent's metrics (online, measured on this run) and the manifest (sizes, MACs, the
host's offline figures), and the Markdown table a person reads.

Every figure the agent labels "estimated" is marked with a dagger, so no estimate passes for a measurement.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from device.energy import DeviceClass, EnergyFigures, energy, mcu_time
from device.models.entry import ModelEntry
from device.models.manifest import Manifest
from simulator.recommend import Candidate
from simulator.units import MISSING, count, duration_us, energy_uj, is_missing, number, significant, size_bytes

ESTIMATED = "†"


@dataclass(frozen=True)
class ModelRow:
    """Everything the report says about one model."""

    name: str
    kind: str
    scored: int
    mse: float
    rmse: float
    mae: float
    mape: float
    offline_mse: float | None
    latency_p50_us: float | None
    latency_p99_us: float | None
    end_to_end_p50_us: float | None
    end_to_end_p99_us: float | None
    flash_bytes: int
    arena_bytes: int | None
    macs: int
    energy: dict[str, EnergyFigures] = field(default_factory=dict)
    horizon_minutes: int | None = None  # the manifest's window: how far ahead the model forecasts

    def candidate(self, device: DeviceClass) -> Candidate:
        figure = self.energy.get(device.profile)
        return Candidate(
            self.name,
            self.mse,
            figure.uj_per_inference if figure else None,
            figure.estimated if figure else True,
            self.flash_bytes,
            self.arena_bytes,
            self.macs,
            figure.us_per_inference if figure else None,
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def offline_mse(entry: ModelEntry | None) -> float | None:
    """The host's offline MSE from the manifest, if the converter recorded one: the shipped file's own error on the
    held-out windows (``task``), else the training run's test error."""
    if entry is None:
        return None
    for section in (entry.metrics.get("task"), (entry.metrics.get("training") or {}).get("test"), entry.metrics):
        if isinstance(section, dict) and section.get("mse") is not None:
            return float(section["mse"])
    return None


def mcu_figures(
    entry: ModelEntry | None, reported: Mapping[str, Any], devices: Sequence[DeviceClass]
) -> dict[str, EnergyFigures]:
    """The agent's energy figures, and for each microcontroller class it did not report (an agent that knew fewer
    classes) the same figures computed from the manifest entry, as the agent would have."""
    figures = {p: EnergyFigures.from_dict(f) for p, f in reported.items()}
    for device in devices:
        time = None if device.core is None or entry is None else mcu_time(entry, device)
        if device.profile not in figures and time is not None:
            figures[device.profile] = energy(device, time)
    return figures


def model_rows(metrics: Mapping[str, Any], manifest: Manifest, devices: Sequence[DeviceClass] = ()) -> list[ModelRow]:
    """A row per model the agent ran, in the agent's order (MCU figures the agent did not report: from the manifest
    for ``devices``)."""
    rows = []
    for name, m in metrics["models"].items():
        entry = manifest.models.get(name)
        latency, e2e = m.get("latency_us", {}), m.get("end_to_end_us", {})
        rows.append(
            ModelRow(
                name=name,
                kind=m.get("kind") or (entry.kind if entry else "?"),
                scored=int(m.get("scored", 0)),
                # None until the first prediction is scored: NaN keeps the row sortable and prints as a dash.
                **{k: math.nan if m.get(k) is None else float(m[k]) for k in ("mse", "rmse", "mae", "mape")},
                offline_mse=offline_mse(entry),
                latency_p50_us=_float(latency.get("p50")),
                latency_p99_us=_float(latency.get("p99")),
                end_to_end_p50_us=_float(e2e.get("p50")),
                end_to_end_p99_us=_float(e2e.get("p99")),
                flash_bytes=int(m.get("flash_bytes") or 0),
                arena_bytes=m.get("arena_bytes"),
                macs=int(m.get("macs") if m.get("macs") is not None else (entry.macs if entry else 0)),
                energy=mcu_figures(entry, m.get("energy", {}), devices),
                horizon_minutes=entry.window.horizon if entry else None,
            )
        )
    return rows


Column = tuple[str, Callable[[ModelRow], str]]


def _energy_cell(
    profile: str, value: Callable[[EnergyFigures], float | None], shown: Callable[[float], str]
) -> Callable[[ModelRow], str]:
    """A cell showing one energy figure of ``profile``, daggered when it is an estimate."""

    def cell(r: ModelRow) -> str:
        figure = r.energy.get(profile)
        v = None if figure is None else value(figure)
        return MISSING if figure is None or v is None else shown(v) + (ESTIMATED if figure.estimated else "")

    return cell


def _time_column(profile: str, label: str) -> Column:
    return (f"time per inference, {label}", _energy_cell(profile, lambda f: f.us_per_inference, duration_us))


def _energy_columns(profile: str, label: str, has_power: bool = True) -> list[Column]:
    """Energy per inference and per day and battery days; only the time where the device has no power figure."""
    if not has_power:
        return [_time_column(profile, label)]
    return [
        (f"energy per inference, {label}", _energy_cell(profile, lambda f: f.uj_per_inference, energy_uj)),
        (
            f"energy per day, {label}",
            _energy_cell(profile, lambda f: None if f.j_per_day is None else f.j_per_day * 1e6, energy_uj),
        ),
        (f"battery days, {label}", _energy_cell(profile, lambda f: f.battery_days, significant)),
    ]


def _full_columns(
    profiles: tuple[str, ...], labels: Mapping[str, str], timed_only: frozenset[str] = frozenset()
) -> list[Column]:
    columns: list[Column] = [
        ("model", lambda r: r.name),
        ("kind", lambda r: r.kind),
        ("scored", lambda r: count(r.scored)),
        ("online MSE (kW²)", lambda r: number(r.mse)),
        ("RMSE (kW)", lambda r: number(r.rmse)),
        ("MAE (kW)", lambda r: number(r.mae)),
        ("MAPE", lambda r: number(r.mape, ".1f") + " %" if not is_missing(r.mape) else MISSING),
        ("host offline MSE (kW²)", lambda r: number(r.offline_mse)),
        ("latency p50", lambda r: duration_us(r.latency_p50_us)),
        ("latency p99", lambda r: duration_us(r.latency_p99_us)),
        ("end-to-end p50", lambda r: duration_us(r.end_to_end_p50_us)),
        ("end-to-end p99", lambda r: duration_us(r.end_to_end_p99_us)),
        ("model (flash)", lambda r: size_bytes(r.flash_bytes)),
        ("tensor arena (RAM)", lambda r: size_bytes(r.arena_bytes)),
        ("MACs", lambda r: count(r.macs)),
    ]
    for p in profiles:
        columns += _energy_columns(p, labels.get(p, p), p not in timed_only)
    return columns


def _render(head: list[str], body: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines) + "\n"


def markdown_table(
    rows: list[ModelRow],
    profiles: tuple[str, ...],
    labels: Mapping[str, str] | None = None,
    timed_only: frozenset[str] = frozenset(),
) -> str:
    """The full comparison table: accuracy online (and the host's offline MSE), speed, size, energy per profile
    (headed by ``labels[profile]``, e.g. the device class, if given; only the time for the ``timed_only`` profiles,
    devices without a power figure). A column with the same value for every model says nothing about the choice: it
    is left out and named below."""
    columns = _full_columns(profiles, labels or {}, timed_only)
    cells = {head: [cell(r) for r in rows] for head, cell in columns}
    same = [head for head, _ in columns[1:] if len(rows) > 1 and len(set(cells[head])) == 1]
    kept = [head for head, _ in columns if head not in same]
    table = _render(kept, [[cells[head][i] for head in kept] for i in range(len(rows))])
    if same:
        table += (
            "\nThe same for every model, so not a column: "
            + "; ".join(f"{head} {cells[head][0]}" for head in same)
            + ".\n"
        )
    return table


def headline_table(rows: list[ModelRow], devices: Sequence[DeviceClass]) -> str:
    """The few figures that decide, best online MSE first: accuracy, latency, size, and energy per device class (its
    time per inference where it has no power figure)."""
    per_device = [_energy_columns(d.profile, d.name, d.has_power)[0] for d in devices]
    columns: list[Column] = [
        ("model", lambda r: r.name),
        ("online MSE (kW²)", lambda r: number(r.mse)),
        ("latency p50", lambda r: duration_us(r.latency_p50_us)),
        ("model (flash)", lambda r: size_bytes(r.flash_bytes)),
        *per_device,
    ]
    ranked = sorted(rows, key=lambda r: (is_missing(r.mse), r.mse))
    return _render([head for head, _ in columns], [[cell(r) for _, cell in columns] for r in ranked])


def firmware_table(manifest: Manifest, models: Sequence[str]) -> str | None:
    """Per model and firmware target, what the manifest records: instructions (measured in QEMU), estimated cycles,
    flash and RAM of the project's C runtime; None when none of ``models`` has such figures."""
    lines = []
    for name in models:
        entry = manifest.models.get(name)
        for target, m in (entry.targets if entry else {}).items():
            lines.append(
                f"| {name} | {target} | {count(m.instructions)} | "
                f"{MISSING if m.cycles is None else count(m.cycles) + ESTIMATED} | "
                f"{size_bytes(m.flash_bytes)} | {size_bytes(m.ram_bytes)} |"
            )
    if not lines:
        return None
    head = "| model | firmware target | instructions | cycles | flash | RAM |\n|---|---|---:|---:|---:|---:|\n"
    return head + "\n".join(lines) + "\n"
