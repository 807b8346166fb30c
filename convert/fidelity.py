"""Float versus int8 on the held-out windows, like ST Edge AI's "X-cross" check, run by the device's own predictor.

Both files run through :class:`device.families.tflite.TFLitePredictor` (state reset before every window), so the figures
are those of the code the Raspberry Pi agent runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ai_edge_litert.interpreter import Interpreter

from device.contract import MinMaxScaling, WindowSpec
from device.models.families.tflite import TensorInfo, TFLitePredictor
from device.scoring import error_metrics


def litert_predict(path: Path, spec: WindowSpec, io: tuple[TensorInfo, TensorInfo], x: np.ndarray) -> np.ndarray:
    """Scaled predictions (n,) of a ``.tflite`` file under LiteRT, one window per invoke."""
    predictor = TFLitePredictor(Path(path), spec, io[0], io[1], Interpreter)
    return predictor.predict(x, np.full(len(x), spec.seq_len))


def task_metrics(predictions: np.ndarray, y: np.ndarray, scaling: MinMaxScaling) -> dict[str, float | int]:
    """MSE, RMSE, MAE, MAPE in kW of scaled predictions against scaled targets."""
    return error_metrics(scaling.inverse_target(predictions), scaling.inverse_target(y))


def compare(reference: np.ndarray, candidate: np.ndarray, y: np.ndarray, scaling: MinMaxScaling) -> dict[str, float]:
    """How far ``candidate`` (e.g. int8) is from ``reference`` (float), and what that does to the task MSE (kW²)."""
    diff = scaling.inverse_target(candidate) - scaling.inverse_target(reference)
    ref_mse = task_metrics(reference, y, scaling)["mse"]
    cand_mse = task_metrics(candidate, y, scaling)["mse"]
    return {
        "windows": int(len(y)),
        "rmse_vs_reference_kw": float(np.sqrt(np.mean(diff**2))),
        "max_abs_vs_reference_kw": float(np.max(np.abs(diff))),
        "reference_task_mse": float(ref_mse),
        "task_mse": float(cand_mse),
        "task_mse_change_pct": float(100.0 * (cand_mse - ref_mse) / ref_mse),
    }
