"""The run's report: ``report.md`` for a person, ``report.json`` with the same numbers for programs."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from train.evaluate import Evaluation


@dataclass
class RunSummary:
    """What the numbers were measured on, in words and counts."""

    data: str
    protocol: str  # one sentence: which rows trained, which tested
    fill: str  # FillReport.describe()
    resample: str
    seq_len: int
    horizon: int
    train_rows: int
    test_rows: int
    train_period: str
    test_period: str
    notes: list[str] = field(default_factory=list)


def _fmt(value: float, digits: int = 4) -> str:
    return "n/a" if value != value else f"{value:.{digits}f}"  # NaN != NaN


def markdown_table(rows: list[Evaluation]) -> str:
    """Every model in one table, persistence as the yardstick (``vs persistence`` = MSE ratio, < 1 is better)."""
    reference = next((r.test["mse"] for r in rows if r.name == "persistence"), float("nan"))
    lines = [
        "| Model | Inputs | Params | Test MSE | vs persistence | RMSE | MAE | MAPE % | Streaming MSE | Train s | "
        "Epochs (best) | Predict µs/window |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        epochs = f"{r.epochs_run} ({r.best_epoch})" if r.epochs_run else "-"
        lines.append(
            f"| {r.name} | {'+'.join(r.features)} | {r.parameters:,} | {_fmt(r.test['mse'])} | "
            f"{_fmt(r.test['mse'] / reference, 3)} | {_fmt(r.test['rmse'])} | {_fmt(r.test['mae'])} | "
            f"{_fmt(r.test['mape'], 2)} | {_fmt(r.streaming['mse'])} | {r.train_seconds:.1f} | {epochs} | "
            f"{r.predict_us_per_window:.2f} |"
        )
    return "\n".join(lines) + "\n"


def render_markdown(summary: RunSummary, rows: list[Evaluation], plots: dict[str, str]) -> str:
    zero_targets = max((r.test["mape_skipped_zero_targets"] for r in rows), default=0)
    test_windows = rows[0].test["n"] if rows else 0
    parts = [
        "# wattcast training report\n",
        f"- **Data**: `{summary.data}`, resampled to {summary.resample}; {summary.fill}.",
        f"- **Protocol**: {summary.protocol}",
        f"- **Train**: {summary.train_rows:,} rows, {summary.train_period}. **Test**: {summary.test_rows:,} rows, "
        f"{summary.test_period}.",
        f"- **Windows**: {summary.seq_len} readings → the value {summary.horizon} step(s) after the last one; "
        f"{test_windows:,} test windows. Min-max scaling fitted on the training rows only; windows cut inside each "
        "part.",
        *(f"- {note}" for note in summary.notes),
        "",
        markdown_table(rows),
        "Errors are in kW (MSE in kW²) on the full test windows. *Streaming MSE* is the seed notebook's validation: a "
        "forecast from the 2nd test reading on, the missing history zero-padded in front, as the device does at "
        f"start-up. MAPE skips zero targets ({zero_targets} here). *Predict µs/window* is batched on this host, not a "
        "device latency. Persistence (repeat the last reading) is the honest yardstick: a model whose "
        "`vs persistence` ratio is not clearly below 1 has learnt little that matters a few minutes ahead.",
        "",
    ]
    notes = [f"- **{r.name}**: {r.notes}" for r in rows if r.notes]
    if notes:
        parts += ["## Notes per model\n", *notes, ""]
    parts += [f"![{title}]({name})\n" for title, name in plots.items()]
    return "\n".join(parts)


def write_report(
    out_dir: Path, summary: RunSummary, rows: list[Evaluation], config: dict[str, Any], plots: dict[str, str]
) -> Path:
    """Write report.md and report.json into ``out_dir``; returns the Markdown path."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    document = {"config": config, "summary": asdict(summary), "models": [r.summary() for r in rows], "plots": plots}
    (out_dir / "report.json").write_text(json.dumps(document, indent=2) + "\n")
    markdown = out_dir / "report.md"
    markdown.write_text(render_markdown(summary, rows, plots))
    return markdown
