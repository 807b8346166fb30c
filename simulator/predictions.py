"""The agent's predictions file, as per-model series the report can plot and check.

The agent writes one CSV row per prediction (meter, model, ts, target_ts, predicted, and actual once it was scored);
they read into one :class:`PredictionSeries` per model.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class PredictionSeries:
    """One model's predictions for one meter, in target-time order; ``actual`` is NaN where not scored yet."""

    target_ts: np.ndarray  # ISO strings
    predicted: np.ndarray
    actual: np.ndarray

    def scored(self) -> PredictionSeries:
        keep = ~np.isnan(self.actual)
        return PredictionSeries(self.target_ts[keep], self.predicted[keep], self.actual[keep])

    def tail(self, n: int) -> PredictionSeries:
        return PredictionSeries(self.target_ts[-n:], self.predicted[-n:], self.actual[-n:])

    def __len__(self) -> int:
        return len(self.predicted)


def _number(value: object) -> float:
    return float("nan") if value in (None, "", "null", "None") else float(value)  # type: ignore[arg-type]


def read_prediction_rows(path: Path) -> list[dict]:
    """Rows of the agent's predictions CSV (``--predictions-file``)."""
    with Path(path).open(newline="") as f:
        return list(csv.DictReader(f))


def series_by_model(rows: Iterable[Mapping], meter: str | None = None) -> dict[str, PredictionSeries]:
    """Group rows by model for one meter (default: the first meter seen), sorted by target time."""
    grouped: dict[str, list[tuple[str, float, float]]] = {}
    for row in rows:
        meter = meter or str(row["meter"])
        if str(row["meter"]) == meter:
            grouped.setdefault(str(row["model"]), []).append(
                (str(row["target_ts"]), _number(row["predicted"]), _number(row.get("actual")))
            )
    series = {}
    for model, items in grouped.items():
        items.sort(key=lambda item: item[0])
        ts, predicted, actual = zip(*items)
        series[model] = PredictionSeries(
            np.asarray(ts), np.asarray(predicted, np.float64), np.asarray(actual, np.float64)
        )
    return series
