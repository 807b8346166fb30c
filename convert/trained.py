"""Finding the trained models to convert, training the minimum first when there are none.

``python -m convert.quantize`` must work on a fresh clone: then (or when the run folder was trained on other data)
it trains the seed LSTM and the linear regression with :func:`train.pipeline.run` before converting.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from convert.config import QuantizeConfig

log = logging.getLogger(__name__)
REQUIRED = ("linreg", "seed_lstm")


def _trained_models(run_dir: Path, data: Path) -> set[str]:
    """Models whose hand-over files are in ``run_dir`` and whose run (report.json) used ``data``."""
    report = run_dir / "report.json"
    if not report.is_file():
        return set()
    config = json.loads(report.read_text()).get("config", {})
    if Path(config.get("data", "")).resolve() != Path(data).resolve():
        return set()
    return {m for m in config.get("models", []) if (run_dir / "models" / f"{m}.json").is_file()}


def ensure_trained(config: QuantizeConfig) -> tuple[Path, set[str]]:
    """(models folder, names trained in it), training the seed LSTM and linreg first if ``config.train`` says so."""
    run_dir = config.resolved_run_dir
    available = _trained_models(run_dir, config.data)
    missing = [m for m in REQUIRED if m not in available]
    if config.train == "always" or (config.train == "auto" and missing):
        from train.config import TrainConfig
        from train.pipeline import run

        log.info("training %s on %s into %s (missing: %s)", REQUIRED, config.data, run_dir, missing or "none")
        run(TrainConfig(data=Path(config.data), out_dir=run_dir, models=REQUIRED, epochs=config.epochs,
                        seed=config.seed))
        available = _trained_models(run_dir, config.data)
    elif missing:
        raise FileNotFoundError(f"{run_dir} has no trained {missing} for {config.data}; run `python -m train` or "
                                "drop --train never")
    return run_dir / "models", available
