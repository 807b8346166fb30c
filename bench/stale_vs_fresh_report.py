"""What :mod:`bench.stale_vs_fresh` writes: results.json, the Markdown table (results.md) and the MSE-per-week PNG.

The winner of a week is whichever int8 model has the lower MSE there; the overall winner is the one with the lower
median over the weeks, and the table says in how many weeks each won, since a median alone hides a split verdict.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

PNG_NAME = "mse_per_week.png"
ROLES = ("stale", "fresh")


@dataclass(frozen=True)
class ModelRow:
    """How one model was trained (training windows include the 5% validation tail)."""

    name: str
    role: str  # stale or fresh
    trained_from: str
    trained_to: str  # exclusive
    training_windows: int
    filled_minutes: int  # forward-filled readings among its training rows
    epochs: int
    best_epoch: int
    train_seconds: float
    int8_bytes: int


@dataclass(frozen=True)
class WeekRow:
    """One held-out week: metrics in kW (MSE in kW²) of both int8 files, persistence, and both Keras models."""

    week: str
    windows: int
    filled_minutes: int
    stale: dict[str, Any]
    fresh: dict[str, Any]
    persistence: dict[str, Any]
    stale_float: dict[str, Any]
    fresh_float: dict[str, Any]

    @property
    def winner(self) -> str:
        return winner_of(self.stale["mse"], self.fresh["mse"])


def winner_of(stale_mse: float, fresh_mse: float) -> str:
    return "tie" if stale_mse == fresh_mse else "fresh" if fresh_mse < stale_mse else "stale"


def medians(rows: list[WeekRow]) -> dict[str, float]:
    """Median MSE over the weeks, per model and precision."""
    columns = ("stale", "fresh", "persistence", "stale_float", "fresh_float")
    return {c: float(np.median([getattr(r, c)["mse"] for r in rows])) for c in columns}


def weeks_won(rows: list[WeekRow]) -> dict[str, int]:
    return {role: sum(r.winner == role for r in rows) for role in ROLES}


def epochs_of(settings: dict[str, Any]) -> str:
    fresh = settings.get("fresh_epochs")
    if fresh is None or fresh == settings["epochs"]:
        return str(settings["epochs"])
    return f"{settings['epochs']} (stale) and {fresh} (fresh)"


def change(stale: float, fresh: float) -> str:
    return f"{100 * (fresh - stale) / stale:+.1f}%"


def markdown(models: list[ModelRow], rows: list[WeekRow], settings: dict[str, Any], fill: str) -> str:
    """The per-week table with its median row, the verdict, then how each model was trained."""
    med, won = medians(rows), weeks_won(rows)
    overall = winner_of(med["stale"], med["fresh"])
    lines = [
        f"Stale vs fresh, `{settings['model']}` in full int8 under LiteRT: MSE in kW² on every test window of each "
        f"held-out week (inputs and target inside the week). Stale: trained on {settings['stale_from']} .. "
        f"{settings['stale_to']} (exclusive). Fresh: retrained on the {settings['fresh_days']} days before each week. "
        f"Training settings (train.search's): at most {epochs_of(settings)} epochs, patience "
        f"{settings['patience']}, batch {settings['batch_size']}, learning rate {settings['learning_rate']}, "
        f"chronological validation tail {settings['validation_split']:.0%}, seed {settings['seed']}; each model's "
        f"min-max scaling fitted on its own training rows. Data: {Path(settings['data']).name}, {fill}.",
        "",
        "| held-out week | test windows | filled minutes | stale int8 MSE | fresh int8 MSE | persistence MSE | "
        "fresh vs stale | winner |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.week} | {r.windows:,} | {r.filled_minutes:,} | {r.stale['mse']:.4f} | "
            f"{r.fresh['mse']:.4f} | {r.persistence['mse']:.4f} | {change(r.stale['mse'], r.fresh['mse'])} "
            f"| {r.winner} |"
        )
    lines += [
        f"| **median of {len(rows)}** | | | **{med['stale']:.4f}** | **{med['fresh']:.4f}** | "
        f"**{med['persistence']:.4f}** | {change(med['stale'], med['fresh'])} | **{overall}** |",
        "",
        f"Winner by the median: **{overall}** (stale {med['stale']:.4f}, fresh {med['fresh']:.4f} kW²); lower MSE in "
        f"{won['fresh']} of {len(rows)} weeks for fresh, {won['stale']} for stale. Median float (Keras) MSE: stale "
        f"{med['stale_float']:.4f}, fresh {med['fresh_float']:.4f}.",
        "",
        "| model | trained on | training windows | filled minutes in them | epochs (best) | train s | int8 bytes |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {m.name} | {m.trained_from} .. {m.trained_to} | {m.training_windows:,} | {m.filled_minutes:,} | "
        f"{m.epochs} ({m.best_epoch}) | {m.train_seconds:.0f} | {m.int8_bytes:,} |"
        for m in models
    ]
    return "\n".join(lines) + "\n"


def plot(rows: list[WeekRow], path: Path) -> None:
    """Grouped bars per week: stale int8, fresh int8, persistence."""
    x = np.arange(len(rows))
    fig, ax = plt.subplots(figsize=(max(6.0, 1.2 * len(rows) + 2), 4))
    for i, (key, label) in enumerate(
        (("stale", "stale int8"), ("fresh", "fresh int8"), ("persistence", "persistence"))
    ):
        ax.bar(x + (i - 1) * 0.27, [getattr(r, key)["mse"] for r in rows], 0.27, label=label)
    ax.set_xticks(x, [r.week for r in rows], rotation=30, ha="right")
    ax.set(ylabel="MSE (kW²)", title="MSE per held-out week")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_outputs(settings: dict[str, Any], fill: str, models: list[ModelRow], rows: list[WeekRow]) -> None:
    """results.json, results.md and the PNG into ``settings["out_dir"]`` (rewritten after every week)."""
    out = Path(settings["out_dir"])
    med = medians(rows)
    (out / "results.json").write_text(
        json.dumps(
            {
                "config": settings,
                "fill": fill,
                "models": [asdict(m) for m in models],
                "weeks": [{**asdict(r), "winner": r.winner} for r in rows],
                "median_mse": med,
                "winner": winner_of(med["stale"], med["fresh"]),
                "weeks_won": weeks_won(rows),
            },
            indent=2,
        )
        + "\n"
    )
    (out / "results.md").write_text(markdown(models, rows, settings, fill))
    plot(rows, out / PNG_NAME)
