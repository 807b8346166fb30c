"""Score any predictor the same way: test-window metrics in kW, the notebook's streaming validation, and timing.

Metrics come from :func:`device.scoring.error_metrics`, the code the device agent scores itself with, so an offline
number and an online one mean the same thing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from device.scoring import error_metrics
from train.windows import SplitWindows

#: Scaled windows (n, seq_len, n_features) and real-step counts (n,) -> scaled predictions (n,).
PredictFn = Callable[[np.ndarray, np.ndarray], np.ndarray]


@dataclass
class Evaluation:
    """One row of the report."""

    name: str
    features: tuple[str, ...]
    parameters: int
    test: dict[str, Any]  # full test windows, kW
    streaming: dict[str, Any]  # predictions from the 2nd test reading on, zero-padded, kW
    predict_us_per_window: float  # batched, on the test windows
    train_seconds: float = 0.0
    epochs_run: int = 0
    best_epoch: int = 0
    notes: str = ""
    loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    predicted_kw: np.ndarray = field(default_factory=lambda: np.empty(0))  # test windows, for the plot
    actual_kw: np.ndarray = field(default_factory=lambda: np.empty(0))

    def summary(self) -> dict[str, Any]:
        """JSON-ready (no arrays)."""
        return {
            "name": self.name,
            "features": list(self.features),
            "parameters": self.parameters,
            "test": self.test,
            "streaming": self.streaming,
            "predict_us_per_window": self.predict_us_per_window,
            "train_seconds": self.train_seconds,
            "epochs_run": self.epochs_run,
            "best_epoch": self.best_epoch,
            "notes": self.notes,
            "loss": self.loss,
            "val_loss": self.val_loss,
        }


def evaluate(name: str, predict: PredictFn, windows: SplitWindows, parameters: int = 0) -> Evaluation:
    """Predict the test windows (timed) and the streaming windows, and score both in kW."""
    started = time.perf_counter()
    scaled = predict(windows.x_test, windows.n_real_test)
    per_window_us = 1e6 * (time.perf_counter() - started) / max(len(windows.x_test), 1)
    predicted = windows.scaling.inverse_target(scaled)
    actual = windows.scaling.inverse_target(windows.y_test)
    streamed = windows.scaling.inverse_target(predict(windows.x_stream, windows.n_real_stream))
    return Evaluation(
        name=name,
        features=windows.spec.features,
        parameters=parameters,
        test=error_metrics(predicted, actual),
        streaming=error_metrics(streamed, windows.scaling.inverse_target(windows.y_stream)),
        predict_us_per_window=per_window_us,
        predicted_kw=predicted,
        actual_kw=actual,
    )
