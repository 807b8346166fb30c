"""The report's PNG plots: forecasts against what happened, latency, and accuracy against cost (matplotlib Agg).

Every figure draws a model in the same colour and marker (:func:`model_styles`), names models in a legend rather than
in labels that pile up where models are alike, and shows every model in every panel: a model that costs nothing sits
at the left edge of a log axis (a log axis has no 0), a model without a figure is named in the legend.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.axes import Axes  # noqa: E402
from matplotlib.colors import ListedColormap, to_rgb  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from device.energy import DeviceClass  # noqa: E402
from simulator.predictions import PredictionSeries  # noqa: E402
from simulator.report_table import ModelRow  # noqa: E402

#: Percentile -> (marker, size, filled): p95 and p99 are often equal in a short run, so they nest, hollow.
PERCENTILES = {"p50": ("o", 36, True), "p95": ("s", 80, False), "p99": ("^", 40, False), "max": ("x", 40, True)}


def _listed_colours(name: str) -> tuple[tuple[float, float, float], ...]:
    """The colours of one of matplotlib's listed colour maps, as RGB."""
    cmap = plt.get_cmap(name)
    if not isinstance(cmap, ListedColormap):
        raise TypeError(f"matplotlib's {name!r} is not a listed colour map")
    return tuple(to_rgb(cmap(i)) for i in range(cmap.N))


_TAB20 = _listed_colours("tab20")
#: The shipped models' colours, by family (a light shade for a variant of the same model); models not listed here
#: take the unused colours in the order they appear.
_FIXED = {
    "linreg": 0,
    "linreg_q15": 1,
    "lstm_int8": 2,
    "lstm_float32": 3,
    "mcu_lstm_int8": 6,
    "augmented_lstm_int8": 8,
    "cnn_bilstm_int8": 10,
    "persistence": 14,
    "trend": 16,
    "linreg_cal": 18,
}
#: No "<": it marks a cost of 0 at the left edge of a log axis.
_MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*", "h", "p", "d", "8")


@dataclass(frozen=True)
class Style:
    colour: tuple[float, float, float]
    marker: str


def model_styles(names: Iterable[str]) -> dict[str, Style]:
    """A colour and a marker per model, the same in every figure of a report (and across reports for the shipped
    models): colour tells families apart, the marker two models whose points coincide."""
    names = list(dict.fromkeys(names))
    free = [i for i in range(len(_TAB20)) if i not in _FIXED.values()]
    colours: dict[str, int] = {}
    for name in names:
        colours[name] = _FIXED[name] if name in _FIXED else free.pop(0) if free else len(colours) % len(_TAB20)
    return {name: Style(_TAB20[colours[name]], _MARKERS[i % len(_MARKERS)]) for i, name in enumerate(names)}


def _save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_predictions(
    series: Mapping[str, PredictionSeries], styles: Mapping[str, Style], path: Path, last: int = 500
) -> Path:
    """Predicted against actual kW for the last ``last`` scored points of each model, one panel per model."""
    models = list(series)  # the agent's order, as in the table
    fig, axes = plt.subplots(len(models), 1, figsize=(11, 2.2 * len(models)), sharex=True, sharey=True, squeeze=False)
    for ax, model in zip(axes[:, 0], models):
        tail = series[model].scored().tail(last)
        ax.plot(tail.actual, color="black", lw=0.8, label="actual")
        ax.plot(tail.predicted, color=styles[model].colour, lw=0.9, label=f"{model}, predicted")
        ax.set_ylabel("kW")
        ax.legend(loc="upper right", fontsize=8)
    axes[-1, 0].set_xlabel(f"the last {last} scored predictions (one per minute)")
    fig.tight_layout()
    return _save(fig, path)


def plot_latency(models: Mapping[str, Mapping[str, Any]], styles: Mapping[str, Style], path: Path) -> Path:
    """Inference latency per model: a histogram where the agent exports one (``latency_us.histogram`` with ``edges``
    and ``counts``), else its percentiles as points, on a log axis since models differ by 1000x."""
    fig, ax = plt.subplots(figsize=(10, 4.5))
    histograms = {
        name: m["latency_us"]["histogram"] for name, m in models.items() if "histogram" in m.get("latency_us", {})
    }
    if histograms:
        for name, h in histograms.items():
            ax.stairs(h["counts"], h["edges"], label=name, color=styles[name].colour)
        ax.set_xscale("log")
        ax.set_xlabel("inference latency (µs)")
        ax.set_ylabel("inferences")
        ax.legend(fontsize=8, loc="center left", bbox_to_anchor=(1.01, 0.5))
    else:
        names = list(models)
        for x, name in enumerate(names):
            colour = styles[name].colour
            for p, (marker, size, filled) in PERCENTILES.items():
                value = models[name].get("latency_us", {}).get(p)
                if value:  # None before the first inference; a log axis cannot show 0
                    ax.scatter(
                        x,
                        value,
                        marker=marker,
                        s=size,
                        linewidths=1.4,
                        color=colour if filled else None,
                        facecolors=None if filled else "none",
                        edgecolors=None if filled else [colour],
                    )
        ax.set_xticks(range(len(names)), names, rotation=20, ha="right")
        for tick, name in zip(ax.get_xticklabels(), names):
            tick.set_color(styles[name].colour)
        ax.set_yscale("log")
        ax.set_ylabel("inference latency per window (µs)")
        ax.legend(
            handles=[
                plt.Line2D([], [], marker=m, color="grey", ls="", label=p, markerfacecolor="grey" if filled else "none")
                for p, (m, _, filled) in PERCENTILES.items()
            ],
            fontsize=8,
            loc="center left",
            bbox_to_anchor=(1.01, 0.5),
        )
        ax.grid(alpha=0.3, axis="y")
    ax.set_title("inference latency per model (measured on this host)")
    fig.tight_layout()
    return _save(fig, path)


@dataclass(frozen=True)
class CostAxis:
    """Where each model goes on a log cost axis, which has no 0: a cost of 0 at the left ``edge`` (a decade below
    the cheapest other model), a model without the figure nowhere but named."""

    x: dict[str, float]
    edge: float
    at_edge: tuple[str, ...]
    missing: tuple[str, ...]

    @classmethod
    def of(cls, costs: Mapping[str, float | None]) -> CostAxis:
        positive = [c for c in costs.values() if c is not None and c > 0]
        edge = 10.0 ** (math.floor(math.log10(min(positive))) - 1) if positive else 1.0
        at_edge = tuple(n for n, c in costs.items() if c is not None and c <= 0)
        return cls(
            {n: edge if n in at_edge else c for n, c in costs.items() if c is not None},
            edge,
            at_edge,
            tuple(n for n, c in costs.items() if c is None),
        )

    def notes(self) -> str:
        return "; ".join(
            ([f"no figure: {', '.join(self.missing)}"] if self.missing else [])
            + ([f"cost 0, at the left edge: {', '.join(self.at_edge)}"] if self.at_edge else [])
        )


def _cost_panel(
    ax: Axes, rows: Sequence[ModelRow], costs: Mapping[str, float | None], styles: Mapping[str, Style], xlabel: str
) -> None:
    """Online MSE against one cost on a log axis. Hollow markers, each smaller than the one before, so that models
    with the same cost stay visible inside one another; a cost of 0 is a triangle pointing left."""
    axis = CostAxis.of(costs)
    for i, r in enumerate(rows):
        if r.name in axis.x:
            ax.scatter(
                axis.x[r.name],
                r.mse,
                marker="<" if r.name in axis.at_edge else styles[r.name].marker,
                s=max(130 - 8 * i, 30),
                facecolors="none",
                edgecolors=[styles[r.name].colour],
                linewidths=1.6,
            )
    ax.set_xscale("log")
    ax.margins(x=0.08)
    if axis.at_edge:
        ax.set_xlim(left=axis.edge / 2)
    ax.set_title(axis.notes(), fontsize=8, loc="left")
    ax.set_xlabel(xlabel)
    ax.grid(alpha=0.3, which="both")


def plot_accuracy_vs_cost(
    rows: list[ModelRow], devices: Sequence[DeviceClass], styles: Mapping[str, Style], path: Path
) -> Path:
    """Online MSE against energy per inference on each device class (time per inference on one without a power
    figure) and against model bytes, every model in every panel, one legend for all; lower left is better."""
    fig, axes = plt.subplots(1, len(devices) + 1, figsize=(5.5 * (len(devices) + 1), 5), sharey=True, squeeze=False)
    for ax, device in zip(axes[0], devices):
        figures = {r.name: r.energy.get(device.profile) for r in rows}
        estimated = ", estimated" if any(f is not None and f.estimated for f in figures.values()) else ""
        if device.has_power:
            costs = {n: None if f is None else f.uj_per_inference for n, f in figures.items()}
            label = f"energy per inference, {device.name} (µJ{estimated})"
        else:  # no power figure: the time per inference
            costs = {n: None if f is None else f.us_per_inference for n, f in figures.items()}
            label = f"time per inference, {device.name} (µs{estimated}; no power figure)"
        _cost_panel(ax, rows, costs, styles, label)
    _cost_panel(axes[0, -1], rows, {r.name: float(r.flash_bytes) for r in rows}, styles, "model bytes (flash)")
    axes[0, 0].set_ylabel("online MSE (kW²)")
    handles = [
        plt.Line2D(
            [],
            [],
            marker=styles[r.name].marker,
            ls="",
            markersize=8,
            markerfacecolor="none",
            markeredgecolor=styles[r.name].colour,
            markeredgewidth=1.6,
            label=r.name,
        )
        for r in rows
    ]
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9)
    fig.suptitle("accuracy against cost: lower left is better")
    fig.tight_layout()
    return _save(fig, path)
