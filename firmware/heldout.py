"""Held-out windows for the firmware checks, cut and scaled by the device contract with each model's shipped
scaling, and the reference outputs the firmware must reproduce (tflite-micro's interpreter, state reset per window,
for the LSTMs; the device's Q15 predictor for linreg_q15).

Held out means after both trainings' data: the notebook protocol's test start (:func:`train.data.held_out_start`,
the seed LSTM and linreg) and the search's 80% training cut (the MCU LSTM), whichever comes later.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from convert.entry_fields import entry_file, entry_scaling, entry_tensors
from device.contract import MEASUREMENTS, feature_matrix, forward_fill, make_windows
from device.models.entry import ModelEntry
from device.models.families.linreg import LinearRegressionQ15
from device.models.families.tflite import dequantize, quantize
from device.models.load import load_models
from device.models.manifest import SHIPPED_ASSETS, load_manifest, verify_file
from train.data import TRAIN_FRACTION, held_out_start, load_measurements

ASSETS = SHIPPED_ASSETS
LSTM_MODELS = ("mcu_lstm_int8", "lstm_int8")
#: Arena for the reference runs: roomy (the size never changes TFLM's outputs, a tight one can crash it).
TFLM_ARENA = 64 * 1024
#: Which manifest entry describes each firmware model's window (linreg_q15 is its own entry).
MODELS = (*LSTM_MODELS, "linreg_q15")


@dataclass(frozen=True)
class Windows:
    """``count`` held-out windows of one model: scaled floats, their quantised form for the firmware, targets."""

    entry: ModelEntry
    x: np.ndarray  # (n, seq_len, features) scaled
    x_q: np.ndarray  # int8 (the LSTMs' input quantisation) or int16 Q15 (linreg_q15)
    y: np.ndarray  # (n,) scaled targets


def held_out_start_row(n_rows: int) -> int:
    return max(held_out_start(n_rows), int(n_rows * TRAIN_FRACTION))


def held_out_windows(model: str, data: Path, count: int, assets: Path = ASSETS) -> Windows:
    """``count`` windows evenly spaced over the held-out rows of ``data`` (fewer if there are not that many)."""
    entry = load_manifest(assets).models[model]
    measurements = load_measurements(data)
    rows = measurements.rows(slice(held_out_start_row(len(measurements.minutes)), None))
    filled = forward_fill(np.stack([rows.values[k] for k in MEASUREMENTS], axis=1))
    columns = {k: filled[:, i] for i, k in enumerate(MEASUREMENTS)}
    scaling = entry_scaling(entry)
    x, y = make_windows(
        scaling.transform(feature_matrix(columns, rows.minutes, entry.window.features)),
        scaling.transform_target(columns["gap"]),
        entry.window,
    )
    pick = np.unique(np.linspace(0, len(x) - 1, min(count, len(x))).round().astype(int))
    x, y = x[pick], y[pick]
    x_q = LinearRegressionQ15.quantize_input(x) if model == "linreg_q15" else quantize(x, entry_tensors(entry)[0])
    return Windows(entry, x, x_q, y)


def _q15_predictor(model: str, assets: Path) -> LinearRegressionQ15:
    """The device's Q15 predictor of ``model``, as the agent loads it."""
    (loaded,) = load_models(assets, (model,))
    if not isinstance(loaded.predictor, LinearRegressionQ15):
        raise ValueError(f"model {model!r} does not load as a Q15 least squares ({type(loaded.predictor).__name__})")
    return loaded.predictor


def reference_outputs(model: str, windows: Windows, assets: Path = ASSETS) -> np.ndarray:
    """What the firmware must output for each window: tflite-micro's raw int8 (state reset per window, run in a
    child process as convert/tflm.py does), or the device's Q15 accumulator."""
    if model == "linreg_q15":
        return _q15_predictor(model, assets).predict_q(windows.x).astype(np.int64)
    from convert.isolated import run_isolated
    from convert.tflm import tflm_outputs

    manifest = load_manifest(assets)
    model_bytes = verify_file(assets, manifest, entry_file(windows.entry)).read_bytes()
    return run_isolated("TFLM reference", tflm_outputs, model_bytes, TFLM_ARENA, windows.x_q).astype(np.int64)


def scaled_predictions(model: str, raw: np.ndarray, windows: Windows, assets: Path = ASSETS) -> np.ndarray:
    """Raw outputs as scaled predictions: the output tensor's dequantisation, or the Q15 accumulator / 2^shift."""
    if model == "linreg_q15":
        return np.asarray(raw, np.float64) / 2.0 ** _q15_predictor(model, assets).shift
    return dequantize(raw, entry_tensors(windows.entry)[1])
