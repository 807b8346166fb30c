"""The comparison report that answers "which model would you put on the device, and why?".

:func:`write_report` is a pure function of the agent's metrics, its predictions, and the manifest: it writes
``report.md`` (a person reads it), ``report.json`` (the same figures, for a program) and PNG plots, and returns their
paths. The recommendation in it is computed by :mod:`simulator.recommend` from the numbers of this run.

``python -m simulator.report --help`` rebuilds a report from files an agent left behind.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from device.energy import DEVICE_CLASSES, DeviceClass
from device.models.manifest import DEFAULT_ASSETS, Manifest, load_manifest, locate_assets
from device.options import build_parser as build_options_parser
from device.options import option, parse_options
from simulator.predictions import read_prediction_rows, series_by_model
from simulator.recommend import DEFAULT_MARGIN, Recommendation, recommend
from simulator.report_plots import model_styles, plot_accuracy_vs_cost, plot_latency, plot_predictions
from simulator.report_table import ESTIMATED, ModelRow, firmware_table, headline_table, markdown_table, model_rows
from simulator.units import count, size_bytes

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Reference:
    """A published figure from elsewhere, shown beside ours and labelled as theirs."""

    source: str
    model: str
    mse: float
    protocol: str


#: Published figures, not measured here. The paper's minutely MSE is 1 minute ahead on its own date split, so it
#: is context for our 5-minute figures, not a like-for-like comparison.
REFERENCES: tuple[Reference, ...] = (
    Reference(
        "Le et al. 2019, Appl. Sci. 9(20):4237 (the paper)",
        "CNN-BiLSTM",
        0.051,
        "minutely data, 1 minute ahead, train before 2009-12-16, test after",
    ),
)


@dataclass(frozen=True)
class ReportConfig:
    """What the report compares against and how it decides."""

    margin: float = option(
        DEFAULT_MARGIN, "relative MSE margin within which a cheaper model counts as good as the best"
    )
    devices: tuple[DeviceClass, ...] = option(DEVICE_CLASSES, cli=False)
    last_points: int = option(500, cli=False)
    references: tuple[Reference, ...] = option(REFERENCES, cli=False)


@dataclass(frozen=True)
class ReportFiles:
    markdown: Path
    json: Path
    plots: dict[str, Path] = field(default_factory=dict)


def _recommendations(rows: list[ModelRow], config: ReportConfig) -> list[Recommendation]:
    return [recommend([r.candidate(d) for r in rows], d, config.margin) for d in config.devices]


def problems_banner(problems: Sequence[str]) -> list[str]:
    """A red box (GitHub's CAUTION alert) on top of the report when the run's figures cannot be trusted."""
    if not problems:
        return []
    return (
        ["> [!CAUTION]", "> **ERROR: this run's figures cannot be trusted.**"]
        + [f"> - {p}" for p in problems]
        + ["> See *Stream accounting* below.", ""]
    )


def offline_period(manifest: Manifest) -> str:
    """Where the manifest's offline figures come from, as far as it says."""
    data = manifest.extra.get("source", {}).get("data")
    return (
        f"the held-out windows of {data}" if data else "the held-out windows of the data the models were converted from"
    )


def _markdown(
    rows: list[ModelRow],
    recs: list[Recommendation],
    metrics: Mapping[str, Any],
    run: Mapping[str, Any],
    plots: Mapping[str, Path],
    config: ReportConfig,
    problems: Sequence[str],
    manifest: Manifest,
) -> str:
    profiles = tuple(dict.fromkeys(p for r in rows for p in r.energy))
    readings = metrics.get("readings", {})
    process = metrics.get("process", {})
    out = ["# Which model should forecast this household's power on the device?", ""]
    out += problems_banner(problems)
    if run:
        out += [
            "Run: " + ", ".join(f"{k} **{count(v) if isinstance(v, int) else v}**" for k, v in run.items()) + ".",
            "",
        ]
    out += [
        "## Recommendation (computed from this run's numbers)",
        "",
        f"Rule: among the models that fit the device, the cheapest (energy per inference, then time per inference, "
        f"then model bytes, then MACs) whose online MSE is within {config.margin:.0%} of the best. On a "
        f"microcontroller the time is the cycles the manifest records for its firmware target (instructions "
        f"measured in QEMU, priced with the core's published timings) at its clock.",
        "",
    ]
    for d, rec in zip(config.devices, recs):
        out.append(f"- **{rec.device}** ({d.budget.text()}): **{rec.model or 'none'}**. {rec.reason}")
    out += ["", "Device classes (figures and their sources):", ""]
    out += [
        f"- **{d.name}**: {d.describe() or 'measured CPU time'}. Source: {d.sources or 'not given'}."
        for d in config.devices
    ]
    out += [
        "",
        "## At a glance (best online MSE first)",
        "",
        headline_table(rows, config.devices),
        f"{ESTIMATED} an estimate from the agent's device profile, not a measurement. Latency: per window, measured "
        f"on the machine that ran the agent. Every figure of every model is in the full table below.",
        "",
    ]
    replayed = f" ({run['replayed']})" if run.get("replayed") else ""
    out += [
        "## Every model on the same stream",
        "",
        markdown_table(
            rows,
            profiles,
            {d.profile: d.name for d in config.devices},
            frozenset(d.profile for d in config.devices if not d.has_power),
        ),
        f"- **Online against offline error.** The online MSE is scored by the agent on this run's replayed "
        f"minutes{replayed}; `host offline MSE` is the converter's figure in the manifest, from "
        f"{offline_period(manifest)}: another period of the household's life. Some weeks are harder to forecast "
        f"than others for every model alike, so the two columns differ by period, not because the device "
        f"computes differently (the end-to-end test shows online equals offline on the same minutes). Compare "
        f"models within one column.",
        "- **Latency** is per window: readings that queued while the agent was busy are run as one batch, and a "
        "window's latency is the batch's time over its windows (a numpy model gains from that, a TFLite model, "
        "invoked window by window, hardly; at a meter's pace every batch is one reading). **End-to-end** "
        "(reading received to prediction published) includes the time a reading queued while the replay ran at "
        "full speed: it measures the replay's pace, not the model.",
        "- **Battery days** are the agent's estimate at one forecast a minute on its stated battery, with the "
        "device's idle or sleep draw (a Pi never sleeps, so its idle power decides), without the radio.",
        "",
    ]
    targets = firmware_table(manifest, [r.name for r in rows])
    if targets:
        out += [
            "## The firmware on each microcontroller target (from the manifest)",
            "",
            targets,
            f"Instructions: the median over held-out windows in QEMU (`python -m firmware.measure --targets all`); "
            f"cycles{ESTIMATED}: those instructions priced with the core's published timings (docs/firmware-targets.md)"
            f"; flash and RAM: the project's C runtime alone (RAM with the deepest stack of one inference).",
            "",
        ]
    if process:
        out += [
            f"Agent process (all models together): RSS {size_bytes(process.get('rss_bytes'))}, peak RSS "
            f"{size_bytes(process.get('peak_rss_bytes'))}, Python allocation peak "
            f"{size_bytes(process.get('tracemalloc_peak_bytes'))}.",
            "",
        ]
    out += [
        "## Published figures (theirs, not measured here)",
        "",
        "| source | model | MSE | protocol |",
        "|---|---|---:|---|",
    ]
    out += [f"| {r.source} | {r.model} | {r.mse:.3f} | {r.protocol} |" for r in config.references]
    best_online = min((r for r in rows if r.mse == r.mse), key=lambda r: r.mse, default=None)
    if best_online is not None:
        ahead = "" if best_online.horizon_minutes is None else f" ({best_online.horizon_minutes} minutes ahead)"
        out += ["", f"Our best online MSE in this run: {best_online.name} {best_online.mse:.4f}{ahead}."]
    out += ["", "## Stream accounting", "", "Agent: " + ", ".join(f"{k} {v:,}" for k, v in readings.items()) + "."]
    rejected = metrics.get("rejected", {})
    out.append("Rejected: " + (", ".join(f"{k} {v:,}" for k, v in rejected.items()) if rejected else "none") + ".")
    out += ["", "## Plots", ""]
    out += [f"![{name}]({path.name})" for name, path in plots.items()]
    return "\n".join(out) + "\n"


def write_report(
    metrics: Mapping[str, Any],
    predictions: Iterable[Mapping[str, Any]],
    manifest: Manifest,
    out_dir: Path,
    config: ReportConfig = ReportConfig(),
    run: Mapping[str, Any] | None = None,
    problems: Sequence[str] = (),
) -> ReportFiles:
    """Write report.md, report.json and the PNG plots for one run into ``out_dir``; ``problems`` (why the run's
    figures cannot be trusted, if anything) go on top of both."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = model_rows(metrics, manifest, config.devices)
    recs = _recommendations(rows, config)
    styles = model_styles(r.name for r in rows)
    plots = {
        "accuracy against cost": plot_accuracy_vs_cost(rows, config.devices, styles, out_dir / "accuracy_vs_cost.png"),
        "predicted vs actual": plot_predictions(
            series_by_model(predictions), styles, out_dir / "predicted_vs_actual.png", config.last_points
        ),
        "inference latency": plot_latency(metrics["models"], styles, out_dir / "latency.png"),
    }
    markdown = out_dir / "report.md"
    markdown.write_text(_markdown(rows, recs, metrics, run or {}, plots, config, problems, manifest))
    document = {
        "problems": list(problems),
        "run": dict(run or {}),
        "margin": config.margin,
        "recommendations": [r.to_dict() for r in recs],
        "models": [r.to_dict() for r in rows],
        "references": [asdict(r) for r in config.references],
        "readings": metrics.get("readings", {}),
        "rejected": metrics.get("rejected", {}),
        "process": metrics.get("process", {}),
        "plots": {name: path.name for name, path in plots.items()},
    }
    json_path = out_dir / "report.json"
    json_path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    log.info("report written to %s", markdown)
    return ReportFiles(markdown, json_path, plots)


@dataclass(frozen=True)
class ReportCommand:
    """The files ``python -m simulator.report`` rebuilds a report from, and where it goes."""

    metrics: Path = option(help="the agent's metrics JSON (--metrics-file)")
    predictions: Path = option(help="the agent's predictions file (--predictions-file), CSV or JSON lines")
    assets: Path = option(DEFAULT_ASSETS, "folder holding manifest.json")
    out: Path = option(Path("runs/demo"), "output folder")
    report: ReportConfig = field(default_factory=ReportConfig)


def build_parser() -> argparse.ArgumentParser:
    description = "Rebuild the comparison report from an agent's metrics and predictions."
    return build_options_parser(ReportCommand, "python -m simulator.report", description, log_level=None)


def main(argv: list[str] | None = None) -> int:
    command = parse_options(ReportCommand, argv, build_parser())
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    files = write_report(
        json.loads(command.metrics.read_text()),
        read_prediction_rows(command.predictions),
        load_manifest(locate_assets(command.assets)),
        command.out,
        command.report,
    )
    print(files.markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
