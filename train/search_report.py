"""The search's outputs a person reads: one Markdown table, the winner, and error against size and energy (PNG).

Energy per inference is an estimate, not a measurement: the device's energy model (:mod:`device.energy`) on its
Cortex-M4F class from the MAC count, as the agent reports it for a model the firmware has not measured.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

from device.energy import M4F, Budget, inference_uj, mac_time


def microjoules(macs: int) -> float:
    """Estimated energy per inference on the Cortex-M4F class from the MAC count alone."""
    return inference_uj(M4F, mac_time(macs, M4F))


@dataclass
class SearchRow:
    """One line of the table: a candidate or a baseline. Unknown figures stay None and print as a dash."""

    name: str
    features: str
    parameters: int
    macs: int
    float_mse: float
    float_mae: float
    int8_mse: float | None = None
    int8_mae: float | None = None
    int8_bytes: int | None = None
    arena_bytes: int | None = None
    epochs: int | None = None
    train_seconds: float | None = None
    kind: str = "lstm"  # "lstm", or the baseline's kind ("persistence", "linreg")

    def to_dict(self) -> dict:
        return asdict(self)


def _admissible(row: SearchRow, budget: Budget) -> bool:
    """An LSTM proven in int8 on TFLM (so its arena is known) that fits ``budget``."""
    return (
        row.kind == "lstm"
        and row.int8_mse is not None
        and row.arena_bytes is not None
        and budget.admits(arena_bytes=row.arena_bytes, parameters=row.parameters)
    )


def pick_winner(rows: list[SearchRow], budget: Budget) -> SearchRow | None:
    """The admissible LSTM with the lowest int8 test MSE (the deployed number, not the float one)."""
    admissible = [(r.int8_mse, r) for r in rows if r.int8_mse is not None and _admissible(r, budget)]
    return min(admissible, key=lambda scored: scored[0])[1] if admissible else None


def _fmt(value: float | int | None, spec: str) -> str:
    return "–" if value is None or (isinstance(value, float) and math.isnan(value)) else format(value, spec)


def markdown_table(rows: list[SearchRow], winner: SearchRow | None) -> str:
    """The search table, winner in bold; MSE/MAE in kW² / kW on the chronological test part."""
    header = (
        "| model | features | params | MACs | est. µJ/inference | int8 bytes | arena bytes | float MSE | float MAE "
        "| int8 MSE | int8 MAE | epochs | train s |\n"
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    )
    lines = []
    for r in rows:
        name = f"**{r.name}** (winner)" if winner is not None and r.name == winner.name else r.name
        lines.append(
            f"| {name} | {r.features} | {r.parameters:,} | {r.macs:,} | {microjoules(r.macs):.1f} "
            f"| {_fmt(r.int8_bytes, ',')} | {_fmt(r.arena_bytes, ',')} | {r.float_mse:.4f} | {r.float_mae:.4f} "
            f"| {_fmt(r.int8_mse, '.4f')} | {_fmt(r.int8_mae, '.4f')} | {_fmt(r.epochs, 'd')} "
            f"| {_fmt(r.train_seconds, '.0f')} |"
        )
    return header + "\n".join(lines) + "\n"


def _plot_error_against(rows: list[SearchRow], x_of, xlabel: str, title: str, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    lstm = sorted((r for r in rows if r.kind == "lstm"), key=x_of)
    # Markers only: the candidates differ in inputs as well as size, so a line between them would imply a curve.
    for label, attr, style in (("float", "float_mse", "o"), ("int8", "int8_mse", "s")):
        points = [(x_of(r), getattr(r, attr)) for r in lstm if getattr(r, attr) is not None]
        if points:
            ax.plot(*zip(*points), style, label=f"LSTM family, {label}")
    for r in lstm:
        ax.annotate(
            r.name,
            (x_of(r), r.int8_mse if r.int8_mse is not None else r.float_mse),
            fontsize=7,
            xytext=(3, 3),
            textcoords="offset points",
        )
    for r in rows:
        if r.kind != "lstm":
            ax.axhline(r.float_mse, color="grey", linestyle=":", linewidth=1)
            ax.annotate(
                f"{r.name} {r.float_mse:.4f}",
                (ax.get_xlim()[1], r.float_mse),
                fontsize=6,
                color="grey",
                xytext=(-2, 2),
                textcoords="offset points",
                ha="right",
            )
    ax.set_xlabel(xlabel)
    ax.set_ylabel("test MSE (kW²)")
    ax.set_title(title)
    if lstm:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot_error_vs_size(rows: list[SearchRow], path: Path) -> Path:
    return _plot_error_against(rows, lambda r: r.parameters, "parameters", "Test MSE against model size", path)


def plot_error_vs_energy(rows: list[SearchRow], path: Path) -> Path:
    core = M4F.core
    if core is None:
        raise ValueError(f"{M4F.name}: the energy model gives no core timing to label the axis with")
    xlabel = (
        f"estimated energy per inference (µJ; MACs × {core.cycles_per_mac:g} cycles "
        f"at {core.clock_hz / 1e6:g} MHz, {M4F.inference_w * 1e3:g} mW)"
    )
    return _plot_error_against(
        rows, lambda r: microjoules(r.macs), xlabel, "Test MSE against estimated energy per inference", path
    )
