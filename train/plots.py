"""The report's PNGs: training curves of the networks, and predicted vs actual power at the end of the test part."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from train.evaluate import Evaluation  # noqa: E402


def plot_loss_curves(rows: list[Evaluation], path: Path) -> Path | None:
    """Training and validation MSE per epoch (scaled units), one panel per trained network; None if none trained."""
    trained = [r for r in rows if r.loss]
    if not trained:
        return None
    fig, axes = plt.subplots(1, len(trained), figsize=(4.5 * len(trained), 3.5), squeeze=False)
    for ax, row in zip(axes[0], trained):
        epochs = range(1, len(row.loss) + 1)
        ax.plot(epochs, row.loss, label="training")
        ax.plot(epochs, row.val_loss, label="validation")
        ax.axvline(row.best_epoch, color="grey", linestyle=":", label=f"best (epoch {row.best_epoch})")
        ax.set(title=row.name, xlabel="epoch", ylabel="MSE (scaled)", yscale="log")
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_predictions(rows: list[Evaluation], points: int, step_label: str, path: Path) -> Path:
    """The last ``points`` test targets against each model's forecast, one panel per model, shared axes."""
    fig, axes = plt.subplots(len(rows), 1, figsize=(11, 2.2 * len(rows)), sharex=True, sharey=True, squeeze=False)
    for ax, row in zip(axes[:, 0], rows):
        ax.plot(row.actual_kw[-points:], color="black", linewidth=0.8, label="actual")
        ax.plot(row.predicted_kw[-points:], linewidth=0.8, label="predicted")
        ax.set_title(f"{row.name}: test MSE {row.test['mse']:.4f}", fontsize="small")
        ax.set_ylabel("kW")
    axes[0, 0].legend(fontsize="small", loc="upper right")
    axes[-1, 0].set_xlabel(f"last {points} test windows ({step_label} steps)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
