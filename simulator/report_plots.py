"""The report's PNG plots: forecasts against what happened, latency, and accuracy against cost (matplotlib Agg)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from simulator.predictions import PredictionSeries  # noqa: E402
from simulator.report_table import ModelRow  # noqa: E402

PERCENTILES = ("p50", "p95", "p99", "max")


def plot_predictions(series: Mapping[str, PredictionSeries], path: Path, last: int = 500) -> Path:
    """Predicted against actual kW for the last ``last`` scored points of each model, one panel per model."""
    models = list(series)  # the agent's order, as in the table
    fig, axes = plt.subplots(len(models), 1, figsize=(11, 2.2 * len(models)), sharex=True, squeeze=False)
    for ax, model in zip(axes[:, 0], models):
        tail = series[model].scored().tail(last)
        ax.plot(tail.actual, color="black", lw=0.8, label="actual")
        ax.plot(tail.predicted, color="tab:orange", lw=0.8, label="predicted")
        ax.set_ylabel("kW")
        ax.set_title(model, fontsize=9, loc="left")
    axes[0, 0].legend(loc="upper right", fontsize=8)
    axes[-1, 0].set_xlabel(f"the last {last} scored predictions (one per minute)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_latency(models: Mapping[str, Mapping[str, Any]], path: Path) -> Path:
    """Inference latency per model: a histogram where the agent exports one (``latency_us.histogram`` with
    ``edges`` and ``counts``), else its percentiles as bars, on a log axis since models differ by 1000x."""
    fig, ax = plt.subplots(figsize=(9, 4.5))
    histograms = {name: m["latency_us"]["histogram"] for name, m in models.items() if "histogram" in m.get("latency_us", {})}
    if histograms:
        for name, h in histograms.items():
            ax.stairs(h["counts"], h["edges"], label=name)
        ax.set_xscale("log")
        ax.set_xlabel("inference latency (µs)")
        ax.set_ylabel("inferences")
    else:
        width = 0.8 / len(PERCENTILES)
        for i, p in enumerate(PERCENTILES):
            values = [models[name].get("latency_us", {}).get(p) or 0.0 for name in models]
            ax.bar([x + i * width for x in range(len(models))], values, width, label=p)
        ax.set_xticks([x + 0.4 - width / 2 for x in range(len(models))], list(models), rotation=20, ha="right")
        ax.set_yscale("log")
        ax.set_ylabel("inference latency (µs)")
    ax.set_title("inference latency per model (measured on this host)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_accuracy_vs_cost(rows: list[ModelRow], energy_profile: str, path: Path) -> Path:
    """Online MSE against energy per inference on ``energy_profile`` and against model bytes, one point per model.
    Symlog axes: persistence costs zero, the LSTMs thousands."""
    fig, (ax_energy, ax_flash) = plt.subplots(1, 2, figsize=(12, 4.5), sharey=True)
    for r in rows:
        figure = r.energy.get(energy_profile)
        if figure is not None and figure.uj_per_inference is not None:
            ax_energy.scatter(figure.uj_per_inference, r.mse)
            ax_energy.annotate(r.name, (figure.uj_per_inference, r.mse), fontsize=8, xytext=(4, 4),
                               textcoords="offset points")
        ax_flash.scatter(r.flash_bytes, r.mse)
        ax_flash.annotate(r.name, (r.flash_bytes, r.mse), fontsize=8, xytext=(4, 4), textcoords="offset points")
    estimated = any(r.energy.get(energy_profile) and r.energy[energy_profile].estimated for r in rows)
    ax_energy.set_xscale("symlog", linthresh=0.1)
    ax_energy.set_xlabel(f"energy per inference on {energy_profile} (µJ{', estimated' if estimated else ''})")
    ax_energy.set_ylabel("online MSE (kW²)")
    ax_flash.set_xscale("symlog", linthresh=100)
    ax_flash.set_xlabel("model bytes (flash)")
    for ax in (ax_energy, ax_flash):
        ax.set_xlim(0, max(ax.get_xlim()[1], 1.0) * 5)  # costs are never negative; room for the labels
        ax.grid(alpha=0.3)
    fig.suptitle("accuracy against cost: lower left is better")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
