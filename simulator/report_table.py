"""One row per model, from the agent's metrics (online, measured on this run) and the manifest (sizes, MACs, the
host's offline figures), and the Markdown table a person reads.

Every figure the agent labels "estimated" is marked with a dagger, so no estimate passes for a measurement.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from device.energy import DeviceClass, EnergyFigures
from device.entry import ModelEntry
from device.manifest import Manifest
from simulator.recommend import Candidate

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
        return Candidate(self.name, self.mse, figure.uj_per_inference if figure else None,
                         figure.estimated if figure else True, self.flash_bytes, self.arena_bytes, self.macs)

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


def model_rows(metrics: Mapping[str, Any], manifest: Manifest) -> list[ModelRow]:
    """A row per model the agent ran, in the agent's order."""
    rows = []
    for name, m in metrics["models"].items():
        entry = manifest.models.get(name)
        latency, e2e = m.get("latency_us", {}), m.get("end_to_end_us", {})
        rows.append(ModelRow(
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
            energy={p: EnergyFigures.from_dict(f) for p, f in m.get("energy", {}).items()},
            horizon_minutes=entry.window.horizon if entry else None,
        ))
    return rows


def fmt(value: float | int | None, spec: str = ".4f") -> str:
    """A table cell: a dash for unknown (None or NaN)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return format(value, spec)


def _energy_cell(figure: EnergyFigures | None, value: float | None, spec: str) -> str:
    if figure is None or value is None:
        return "–"
    return fmt(value, spec) + (ESTIMATED if figure.estimated else "")


def markdown_table(rows: list[ModelRow], profiles: tuple[str, ...]) -> str:
    """The comparison table: accuracy online (and the host's offline MSE), speed, size, energy per profile."""
    energy_heads = []
    for p in profiles:
        energy_heads += [f"{p} µJ/inference", f"{p} J/day", f"{p} battery days"]
    head = ["model", "kind", "scored", "MSE", "RMSE", "MAE", "MAPE %", "host offline MSE", "p50 µs", "p99 µs",
            "end-to-end p50 µs", "end-to-end p99 µs", "flash bytes", "arena bytes", "MACs", *energy_heads]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    for r in rows:
        cells = [r.name, r.kind, f"{r.scored:,}", fmt(r.mse), fmt(r.rmse), fmt(r.mae), fmt(r.mape, ".2f"),
                 fmt(r.offline_mse), fmt(r.latency_p50_us, ".1f"), fmt(r.latency_p99_us, ".1f"),
                 fmt(r.end_to_end_p50_us, ".0f"), fmt(r.end_to_end_p99_us, ".0f"), f"{r.flash_bytes:,}",
                 fmt(r.arena_bytes, ","), f"{r.macs:,}"]
        for p in profiles:
            figure = r.energy.get(p)
            cells += [_energy_cell(figure, figure and figure.uj_per_inference, ".3g"),
                      _energy_cell(figure, figure and figure.j_per_day, ".3g"),
                      _energy_cell(figure, figure and figure.battery_days, ".3g")]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
