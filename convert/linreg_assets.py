"""The linear regression for the Pi and for firmware: ``linreg.json`` (float and Q15 in one file, written by
:mod:`device.families.linreg`), ``linreg.h``, ``linreg.c``, and the ``linreg`` / ``linreg_q15`` manifest entries."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convert import c_linreg
from convert.fidelity import compare, task_metrics
from device.models.entry import ModelEntry
from device.models.families import family
from device.models.families.linreg import LinearRegression, LinregDocument, write_document
from device.models.kinds import ModelKind
from train.artifacts import TrainedModel


def document_of(trained: TrainedModel, name: str) -> LinregDocument:
    """The float model training handed over, its Q15 twin and scaling, as ``<name>.json`` holds them."""
    model = LinearRegression.from_dict(trained.window, trained.extra)
    return LinregDocument.of(name, model, trained.scaling, trained.metrics)


def _write_float(trained: TrainedModel, out: Path, name: str, notes: str) -> tuple[LinregDocument, ModelEntry, str]:
    document = document_of(trained, name)
    json_name = write_document(out, document)
    predictions = document.model.predict(trained.x_val, np.full(len(trained.x_val), trained.window.seq_len))
    entry = family(ModelKind.LINREG).entry(
        name=name,
        **document.entry_fields(json_name),
        notes=notes,
        metrics={"training": trained.metrics, "task": task_metrics(predictions, trained.y_val, trained.scaling)},
    )
    return document, entry, json_name


def write_linreg_json(trained: TrainedModel, out: Path, name: str, notes: str) -> tuple[ModelEntry, list[str]]:
    """``<name>.json`` and its float ``linreg`` manifest entry (held-out task metrics included)."""
    _, entry, json_name = _write_float(trained, out, name, notes)
    return entry, [json_name]


def write_linreg(trained: TrainedModel, out: Path) -> tuple[list[ModelEntry], list[str]]:
    """Write the JSON and the C pair; return the two manifest entries and the file names."""
    out = Path(out)
    document, entry, json_name = _write_float(
        trained, out, "linreg", notes="float least squares on every lag; C: linreg_predict / linreg_forecast_kw"
    )
    model, fixed = document.model, document.fixed
    files = [json_name]
    for name, text in c_linreg.render(model, fixed, trained.scaling).items():
        (out / name).write_text(text)
        files.append(name)
    n_real = np.full(len(trained.x_val), trained.window.seq_len)
    float_pred = model.predict(trained.x_val, n_real)
    fixed_pred = fixed.predict(trained.x_val, n_real)
    q15 = family(ModelKind.LINREG_Q15).entry(
        name="linreg_q15",
        **document.entry_fields(json_name),
        metrics={
            "training": trained.metrics,
            "fidelity": compare(float_pred, fixed_pred, trained.y_val, trained.scaling),
            "error_bound_scaled": fixed.error_bound(),
        },
        notes=f"Q15 inputs, int16 weights * 2^{fixed.shift}, int32 accumulator; C: linreg_predict_q15 "
        "/ linreg_forecast_kw_q15 (bit-exact with device.families.linreg.LinearRegressionQ15)",
    )
    return [entry, q15], files
