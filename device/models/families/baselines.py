"""The baselines every model must beat, with no file: persistence and the notebook's trend line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from device.contract import WindowSpec
from device.models.entry import ModelEntry
from device.models.families import Built, Family, target_column
from device.models.kinds import ModelKind

#: Readings the trend line fits, as the notebook did.
DEFAULT_TREND_K = 10


@dataclass(frozen=True)
class Persistence:
    """Predict the last reading: the honest baseline (at 1-5 minutes ahead it is hard to beat by much)."""

    spec: WindowSpec

    def predict(self, x: np.ndarray, n_real: np.ndarray) -> np.ndarray:
        return np.asarray(x, np.float32)[:, -1, target_column(self.spec)]


@dataclass(frozen=True)
class TrendLine:
    """The notebook's earlier model: a least-squares line through the last ``k`` real readings, extrapolated
    ``horizon`` steps ahead. It needs only 2 readings; padded zeros are ignored."""

    spec: WindowSpec
    k: int = DEFAULT_TREND_K

    def predict(self, x: np.ndarray, n_real: np.ndarray) -> np.ndarray:
        series = np.asarray(x, np.float64)[:, -self.k :, target_column(self.spec)]
        steps = series.shape[1]
        used = np.minimum(np.asarray(n_real), steps)[:, None]
        t = np.arange(steps, dtype=np.float64)[None, :]
        mask = t >= steps - used  # the last `used` positions hold real readings
        count = mask.sum(axis=1, keepdims=True)
        t_mean = (t * mask).sum(axis=1, keepdims=True) / count
        y_mean = (series * mask).sum(axis=1, keepdims=True) / count
        cov = (((t - t_mean) * (series - y_mean)) * mask).sum(axis=1, keepdims=True)
        var = (((t - t_mean) ** 2) * mask).sum(axis=1, keepdims=True)
        slope = np.divide(cov, var, out=np.zeros_like(cov), where=var > 0)
        forecast = y_mean + slope * (steps - 1 + self.spec.horizon - t_mean)
        predictions: np.ndarray = forecast[:, 0].astype(np.float32)
        return predictions


@dataclass(frozen=True)
class TrendLineEntry(ModelEntry):
    """A trend line's entry also says how many readings it fits (absent in older manifests: the default)."""

    k: int = DEFAULT_TREND_K

    @classmethod
    def decode_extra(cls, extra: dict[str, Any]) -> dict[str, Any]:
        return {k: int(v) for k, v in extra.items()}


class PersistenceFamily(Family):
    kind = ModelKind.PERSISTENCE
    needs_file = False

    def build(self, entry: ModelEntry, path: Path | None, runtime: str, num_threads: int) -> Built:
        return Built(Persistence(entry.window), "numpy", 0)


class TrendLineFamily(Family):
    kind = ModelKind.TREND_LINE
    entry_class = TrendLineEntry
    needs_file = False

    def entry(self, **fields: Any) -> ModelEntry:
        """Costs 2 MACs per reading fitted."""
        k = fields.get("k", DEFAULT_TREND_K)
        return super().entry(**{"macs": 2 * k, **fields})

    def build(self, entry: ModelEntry, path: Path | None, runtime: str, num_threads: int) -> Built:
        if not isinstance(entry, TrendLineEntry):
            raise TypeError(f"model {entry.name!r}: a trend line needs a TrendLineEntry, got {type(entry).__name__}")
        return Built(TrendLine(entry.window, entry.k), "numpy", 0)


FAMILIES: dict[ModelKind, Family] = {
    ModelKind.PERSISTENCE: PersistenceFamily(),
    ModelKind.TREND_LINE: TrendLineFamily(),
}
