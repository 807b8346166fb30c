"""Per-step scores of series forecasts (kW): MSE and MAE of the median, the pinball loss averaged over the quantiles,
and how often the outer interval held the actual. One accumulator for the host's evaluation and the agent's
online scoring, so an offline table and an online one mean the same thing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


def pinball(predicted: np.ndarray, actual: np.ndarray, quantile: float) -> np.ndarray:
    """The quantile (pinball) loss of each prediction: under-forecasts cost ``quantile``, over-forecasts the rest."""
    error = np.asarray(actual, np.float64) - np.asarray(predicted, np.float64)
    return np.maximum(quantile * error, (quantile - 1) * error)


@dataclass
class SeriesScores:
    """Running per-step sums over forecasts (n, steps, quantiles) and their actuals (n, steps), in kW."""

    quantiles: tuple[float, ...]
    steps: int
    count: int = 0
    sum_sq: np.ndarray = field(init=False)
    sum_abs: np.ndarray = field(init=False)
    sum_pinball: np.ndarray = field(init=False)
    inside: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        if 0.5 not in self.quantiles:
            raise ValueError(f"the median (0.5) is the point and must be among the quantiles, got {self.quantiles}")
        self.sum_sq, self.sum_abs, self.sum_pinball, self.inside = (np.zeros(self.steps) for _ in range(4))

    def add(self, predicted_kw: np.ndarray, actual_kw: np.ndarray) -> None:
        predicted = np.asarray(predicted_kw, np.float64).reshape(-1, self.steps, len(self.quantiles))
        actual = np.asarray(actual_kw, np.float64).reshape(-1, self.steps)
        point = predicted[:, :, self.quantiles.index(0.5)]
        self.count += len(actual)
        self.sum_sq += ((point - actual) ** 2).sum(axis=0)
        self.sum_abs += np.abs(point - actual).sum(axis=0)
        losses = [pinball(predicted[:, :, i], actual, q) for i, q in enumerate(self.quantiles)]
        self.sum_pinball += np.mean(losses, axis=0).sum(axis=0)
        low, high = predicted[:, :, 0], predicted[:, :, -1]
        self.inside += ((low <= actual) & (actual <= high)).sum(axis=0)

    def merge(self, other: SeriesScores) -> None:
        """Add another accumulator's sums (another meter's, for a model's total over every meter)."""
        if (other.quantiles, other.steps) != (self.quantiles, self.steps):
            raise ValueError("scores of different quantiles or steps cannot be merged")
        self.count += other.count
        self.sum_sq += other.sum_sq
        self.sum_abs += other.sum_abs
        self.sum_pinball += other.sum_pinball
        self.inside += other.inside

    def per_step(self) -> dict[str, Any]:
        """{"n", "mse", "mae", "pinball", "coverage"}: the last four one value per step, plus their means."""
        n = max(self.count, 1)
        columns = {
            "mse": self.sum_sq / n,
            "mae": self.sum_abs / n,
            "pinball": self.sum_pinball / n,
            "coverage": self.inside / n,
        }
        return {
            "n": self.count,
            "interval": [self.quantiles[0], self.quantiles[-1]],
            **{k: [float(v) for v in values] for k, values in columns.items()},
            **{f"mean_{k}": float(values.mean()) for k, values in columns.items()},
        }
