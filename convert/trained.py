"""What a training run handed over: the models ``python -m train`` trained into a run folder, and the data it used.

Conversion never trains: a run folder without the models it needs is an error that says which ``python -m train``
command makes them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

#: linreg ships always (the baselines share its window and scaling).
REQUIRED = ("linreg",)


@dataclass(frozen=True)
class TrainingRun:
    """A ``python -m train --out <run_dir>`` folder: its ``models/`` hand-overs and the run's recorded config."""

    run_dir: Path
    data: Path
    seed: int | None
    available: frozenset[str]

    @property
    def models_dir(self) -> Path:
        return self.run_dir / "models"


def training_run(run_dir: Path) -> TrainingRun:
    """The run in ``run_dir``; raises FileNotFoundError naming the command that makes what is missing."""
    run_dir = Path(run_dir)
    report = run_dir / "report.json"
    make = f"run `python -m train --out {run_dir} --models linreg seed_lstm` (or `make train`) first"
    if not report.is_file():
        raise FileNotFoundError(f"no training run in {run_dir.resolve()} (no report.json): {make}")
    config = json.loads(report.read_text()).get("config", {})
    available = frozenset(m for m in config.get("models", []) if (run_dir / "models" / f"{m}.json").is_file())
    missing = [m for m in REQUIRED if m not in available]
    if missing:
        raise FileNotFoundError(f"{run_dir.resolve()} has no trained {missing}: {make}")
    return TrainingRun(run_dir, Path(config["data"]), config.get("seed"), available)
