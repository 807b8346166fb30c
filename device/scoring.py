"""Forecast error metrics, computed the same way offline (host evaluation) and online (device agent).

One accumulator serves both, so "online equals offline" holds by construction and a test can check it to 1e-6.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ErrorAccumulator:
    """Running MSE, RMSE, MAE and MAPE; MAPE skips zero targets and counts how many it skipped."""

    count: int = 0
    sum_sq: float = 0.0
    sum_abs: float = 0.0
    sum_abs_pct: float = 0.0
    pct_count: int = 0
    zero_targets: int = 0

    def add(self, predicted: np.ndarray | list[float] | float, actual: np.ndarray | list[float] | float) -> None:
        """Add one prediction or a batch of them (in kW)."""
        if isinstance(predicted, list) and len(predicted) == 1:  # the agent's usual case: plain floats are cheaper
            self._add_one(predicted[0], actual[0])  # type: ignore[index]
            return
        p = np.atleast_1d(np.asarray(predicted, np.float64))
        a = np.atleast_1d(np.asarray(actual, np.float64))
        err = p - a
        nonzero = a != 0
        self.count += int(err.size)
        self.sum_sq += float(np.dot(err, err))
        self.sum_abs += float(np.abs(err).sum())
        self.sum_abs_pct += float(np.abs(err[nonzero] / a[nonzero]).sum())
        self.pct_count += int(nonzero.sum())
        self.zero_targets += int(err.size - nonzero.sum())

    def _add_one(self, predicted: float, actual: float, sign: int = 1) -> None:
        """One prediction in plain floats; ``sign`` -1 takes back an earlier add of the same pair."""
        err = predicted - actual
        self.count += sign
        self.sum_sq += sign * err * err
        self.sum_abs += sign * abs(err)
        if actual != 0:
            self.sum_abs_pct += sign * abs(err / actual)
            self.pct_count += sign
        else:
            self.zero_targets += sign

    def replace(self, predicted: float, old_actual: float, new_actual: float) -> None:
        """Re-score one prediction: its actual was ``old_actual`` (a filled value) and is ``new_actual``."""
        self._add_one(predicted, old_actual, -1)
        self._add_one(predicted, new_actual)

    @property
    def mse(self) -> float:
        return self.sum_sq / self.count if self.count else float("nan")

    @property
    def rmse(self) -> float:
        return float(np.sqrt(self.mse))

    @property
    def mae(self) -> float:
        return self.sum_abs / self.count if self.count else float("nan")

    @property
    def mape(self) -> float:
        """Mean absolute percentage error in percent, over non-zero targets only."""
        return 100.0 * self.sum_abs_pct / self.pct_count if self.pct_count else float("nan")

    def summary(self) -> dict[str, float | int]:
        return {
            "n": self.count,
            "mse": self.mse,
            "rmse": self.rmse,
            "mae": self.mae,
            "mape": self.mape,
            "mape_skipped_zero_targets": self.zero_targets,
        }


def error_metrics(predicted: np.ndarray, actual: np.ndarray) -> dict[str, float | int]:
    """MSE, RMSE, MAE, MAPE of a batch of predictions (kW)."""
    acc = ErrorAccumulator()
    acc.add(predicted, actual)
    return acc.summary()
