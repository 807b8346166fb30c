"""The linear regression for the Pi and for firmware: ``linreg.json`` (float and Q15 in one file), ``linreg.h``,
``linreg.c``, and the ``linreg`` / ``linreg_q15`` manifest entries."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from convert import c_linreg
from convert.fidelity import compare, task_metrics
from device.manifest import ModelEntry
from device.predictors import LinearRegression, LinearRegressionQ15
from train.artifacts import TrainedModel

JSON_NAME = "linreg.json"


def models_of(trained: TrainedModel) -> tuple[LinearRegression, LinearRegressionQ15]:
    model = LinearRegression(trained.window, np.asarray(trained.extra["coef"], np.float64),
                             float(trained.extra["intercept"]))
    return model, LinearRegressionQ15.from_float(model)


def linreg_document(trained: TrainedModel, name: str = "linreg") -> dict:
    """What ``linreg.json`` holds: both predictors of :mod:`device.predictors` load from it."""
    model, fixed = models_of(trained)
    spec = trained.window
    return {
        "name": name,
        "window": spec.to_dict(),
        "seq_len": spec.seq_len,
        "horizon": spec.horizon,
        "features": list(spec.features),
        "scaling": trained.scaling.to_dict(),
        **model.to_dict(),
        "weights_q": [int(w) for w in fixed.weights_q],
        "bias_q": int(fixed.bias_q),
        "shift": int(fixed.shift),
        "q15_error_bound_scaled": fixed.error_bound(),
        "metrics": trained.metrics,
    }


def _common(trained: TrainedModel, json_name: str) -> dict:
    """Manifest fields every entry served from one linreg JSON shares."""
    coefficients = len(trained.extra["coef"])
    return dict(window=trained.window, scaling=trained.scaling, file=json_name, macs=coefficients,
                parameters=coefficients + 1, arena_bytes=0)


def write_linreg_json(trained: TrainedModel, out: Path, name: str, notes: str) -> tuple[ModelEntry, list[str]]:
    """``<name>.json`` and its float ``linreg`` manifest entry (held-out task metrics included)."""
    json_name = f"{name}.json"
    (Path(out) / json_name).write_text(json.dumps(linreg_document(trained, name), indent=2) + "\n")
    model, _ = models_of(trained)
    predictions = model.predict(trained.x_val, np.full(len(trained.x_val), trained.window.seq_len))
    entry = ModelEntry(name=name, kind="linreg", **_common(trained, json_name),
                       metrics={"training": trained.metrics,
                                "task": task_metrics(predictions, trained.y_val, trained.scaling)},
                       notes=notes)
    return entry, [json_name]


def write_linreg(trained: TrainedModel, out: Path) -> tuple[list[ModelEntry], list[str]]:
    """Write the JSON and the C pair; return the two manifest entries and the file names."""
    out = Path(out)
    entry, files = write_linreg_json(trained, out, "linreg",
                                     notes="float least squares on every lag; C: linreg_predict / linreg_forecast_kw")
    model, fixed = models_of(trained)
    for name, text in c_linreg.render(model, fixed, trained.scaling).items():
        (out / name).write_text(text)
        files.append(name)
    n_real = np.full(len(trained.x_val), trained.window.seq_len)
    float_pred = model.predict(trained.x_val, n_real)
    fixed_pred = fixed.predict(trained.x_val, n_real)
    q15 = ModelEntry(name="linreg_q15", kind="linreg_q15", **_common(trained, JSON_NAME),
                     metrics={"training": trained.metrics, "fidelity": compare(float_pred, fixed_pred, trained.y_val,
                                                                               trained.scaling),
                              "error_bound_scaled": fixed.error_bound()},
                     notes=f"Q15 inputs, int16 weights * 2^{fixed.shift}, int32 accumulator; C: linreg_predict_q15 "
                           "/ linreg_forecast_kw_q15 (bit-exact with device.predictors.LinearRegressionQ15)")
    return [entry, q15], files
