"""Loading the models a manifest lists, after checking every file's sha256.

One entry point, :func:`load_models`, turns manifest names into ready predictors with what they cost (file bytes,
tensor bytes, MACs), so the agent and the benchmark run exactly the same objects.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from device.contract import MEASUREMENTS, MinMaxScaling
from device.manifest import Manifest, ModelEntry, load_manifest, locate_assets, verify_file
from device.predictors import LinearRegression, LinearRegressionQ15, Persistence, Predictor, TrendLine
from device.runtime import TFLM, TFLitePredictor, TFLMPredictor, interpreter_class

log = logging.getLogger(__name__)
FILELESS_KINDS = {"persistence": Persistence, "trend": TrendLine}


@dataclass(frozen=True)
class LoadedModel:
    """A predictor with its manifest entry and its footprint on this device."""

    name: str
    entry: ModelEntry
    predictor: Predictor
    scaling: MinMaxScaling
    flash_bytes: int
    arena_bytes: int | None
    runtime: str

    @property
    def needed_measurements(self) -> tuple[str, ...]:
        return tuple(f for f in self.entry.window.features if f in MEASUREMENTS)


def _identity_scaling(entry: ModelEntry) -> MinMaxScaling:
    """Fileless baselines may come without scaling: they then work in kW directly."""
    n = entry.window.n_features
    return MinMaxScaling((0.0,) * n, (1.0,) * n, 0.0, 1.0)


def _build(directory: Path, manifest: Manifest, entry: ModelEntry, runtime: str, num_threads: int):
    """(predictor, runtime name, arena bytes) for one entry; the file is verified before it is opened."""
    if entry.kind in FILELESS_KINDS:
        return FILELESS_KINDS[entry.kind](entry.window), "numpy", 0
    if entry.file is None:
        raise ValueError(f"model {entry.name!r} of kind {entry.kind!r} names no file")
    path = verify_file(directory, manifest, entry.file)
    if entry.kind == "linreg":
        model = LinearRegression.from_json(path, entry.window)
        return model, "numpy", model.coef.nbytes
    if entry.kind == "linreg_q15":
        d = json.loads(path.read_text())
        weights = np.asarray(d["weights_q"], np.int16)
        return LinearRegressionQ15(entry.window, weights, int(d["bias_q"]), int(d["shift"])), "numpy", weights.nbytes
    if entry.kind == "tflite":
        if entry.input is None or entry.output is None:
            raise ValueError(f"model {entry.name!r}: a tflite entry needs input and output tensor info")
        if runtime == TFLM:
            predictor = TFLMPredictor(path, entry.window, entry.input, entry.output, entry.arena_bytes)
            return predictor, TFLM, predictor.tensor_bytes
        cls, runtime_name = interpreter_class(runtime)
        predictor = TFLitePredictor(path, entry.window, entry.input, entry.output, cls, num_threads)
        return predictor, runtime_name, predictor.tensor_bytes
    raise ValueError(f"model {entry.name!r}: unknown kind {entry.kind!r}")


def load_models(
    directory: Path, names: tuple[str, ...], runtime: str = "auto", num_threads: int = 1
) -> list[LoadedModel]:
    """Load ``names`` (none: every model) from ``directory/manifest.json`` (see :func:`locate_assets` for a relative
    ``directory``); raises AssetIntegrityError on any hash mismatch."""
    directory = locate_assets(directory)
    manifest = load_manifest(directory)
    names = names or tuple(manifest.models)
    missing = [n for n in names if n not in manifest.models]
    if missing:
        raise KeyError(f"models {missing} are not in {directory}/manifest.json (it has {sorted(manifest.models)})")
    loaded = []
    for name in names:
        entry = manifest.models[name]
        predictor, runtime_name, tensor_bytes = _build(directory, manifest, entry, runtime, num_threads)
        flash = int(manifest.files.get(entry.file, {}).get("bytes", 0)) if entry.file else 0
        loaded.append(LoadedModel(
            name, entry, predictor, entry.scaling or _identity_scaling(entry), flash,
            entry.arena_bytes if entry.arena_bytes is not None else tensor_bytes, runtime_name,
        ))
        log.info("loaded %s (%s, %s, %d file bytes)", name, entry.kind, runtime_name, flash)
    return loaded
