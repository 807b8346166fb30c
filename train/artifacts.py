"""The hand-over from training to conversion: one folder per training run, one set of files per model.

``<run_dir>/models/<name>.keras``        a trained Keras model (absent for the numpy models)
``<run_dir>/models/<name>.json``         window spec, scaling, the data split it was trained and tested on,
                                         parameters, offline metrics, and (linreg) coefficients
``<run_dir>/models/<name>.windows.npz``  ``calibration`` (scaled training windows for int8 calibration),
                                         ``x_val``/``y_val`` (scaled held-out windows and targets, for fidelity checks)

Keeping it on disk lets ``python -m convert.quantize`` run long after training, and in another process.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from device.contract import MinMaxScaling, WindowSpec
from train.data import SplitSpec

#: The hand-over key naming the recording a house model's training copy was made from (``train.house`` writes it,
#: ``convert.mcu`` records it in the manifest entry's source).
COPIED_FROM = "copied_from"


@dataclass
class TrainedModel:
    """What conversion needs to know about one trained model."""

    name: str
    window: WindowSpec
    scaling: MinMaxScaling
    calibration: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    parameters: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)  # e.g. linreg coefficients, training notes
    keras_path: Path | None = None
    split: SplitSpec | None = None  # the rows it was trained and tested on, so conversion can rebuild its test part

    def recorded_split(self) -> SplitSpec:
        """The rows it was trained and tested on; raises ValueError for a hand-over that records none."""
        if self.split is None:
            raise ValueError(f"{self.name}: the hand-over records no split; re-run python -m train.search")
        return self.split

    def keras_file(self) -> Path:
        """The saved Keras model; raises FileNotFoundError for a numpy model, which has none."""
        if self.keras_path is None:
            raise FileNotFoundError(f"{self.name}: no .keras file in the hand-over folder")
        return self.keras_path


def save_trained_model(models_dir: Path, model: TrainedModel) -> None:
    models_dir = Path(models_dir)
    models_dir.mkdir(parents=True, exist_ok=True)
    meta = {
        "name": model.name,
        "window": model.window.to_dict(),
        "scaling": model.scaling.to_dict(),
        "parameters": model.parameters,
        "metrics": model.metrics,
        **({"split": model.split.to_dict()} if model.split else {}),
        **model.extra,
    }
    (models_dir / f"{model.name}.json").write_text(json.dumps(meta, indent=2) + "\n")
    np.savez_compressed(
        models_dir / f"{model.name}.windows.npz", calibration=model.calibration, x_val=model.x_val, y_val=model.y_val
    )


def load_trained_model(models_dir: Path, name: str) -> TrainedModel:
    """Load one model's hand-over files; raises FileNotFoundError naming what is missing."""
    models_dir = Path(models_dir)
    meta_path = models_dir / f"{name}.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"no trained model {name!r} in {models_dir} (expected {meta_path.name})")
    meta = json.loads(meta_path.read_text())
    arrays = np.load(models_dir / f"{name}.windows.npz")
    keras_path = models_dir / f"{name}.keras"
    known = {"name", "window", "scaling", "parameters", "metrics", "split"}
    return TrainedModel(
        name=name,
        window=WindowSpec.from_dict(meta["window"]),
        scaling=MinMaxScaling.from_dict(meta["scaling"]),
        calibration=arrays["calibration"],
        x_val=arrays["x_val"],
        y_val=arrays["y_val"],
        parameters=int(meta.get("parameters", 0)),
        metrics=dict(meta.get("metrics", {})),
        extra={k: v for k, v in meta.items() if k not in known},
        keras_path=keras_path if keras_path.is_file() else None,
        split=SplitSpec.from_dict(meta["split"]) if "split" in meta else None,
    )
