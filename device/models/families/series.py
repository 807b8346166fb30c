"""Series models: every step of the next hour (or any :class:`~device.contract.SeriesSpec`) with its quantiles, from
one linear map of the contract's series inputs, and ``<name>.json``, the one file it is served from.

A linear model ships as its coefficients (no int8 is needed: a few thousand float multiply-adds per forecast). Its
predictions are scaled like any model's, shaped (windows, steps, quantiles) instead of (windows,).
:func:`write_document` is the only writer of that file and :func:`read_document` its only reader.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import numpy as np

from device.contract import MinMaxScaling, WindowSpec, series_input_names, series_inputs
from device.models.entry import ModelEntry
from device.models.families import Built, Family, Predictor
from device.models.kinds import ModelKind

#: The quantile levels the series models forecast; the 0.5 is the point.
QUANTILES: tuple[float, ...] = (0.1, 0.5, 0.9)


@dataclass(frozen=True)
class SeriesLinear:
    """``outputs = inputs @ coef + intercept + widen`` in scaled units, ``inputs`` from
    :func:`device.contract.series_inputs`, outputs ordered (step, quantile); the quantiles of each step are then
    sorted, so a P10 never lies above its median.

    ``widen`` (steps, quantiles) is the calibration: what moves each step's outer quantiles out (or in) so that the
    interval held its nominal share of a calibration period training left aside."""

    spec: WindowSpec
    quantiles: tuple[float, ...]
    coef: np.ndarray  # (inputs, steps * quantiles)
    intercept: np.ndarray  # (steps * quantiles,)
    widen: np.ndarray  # (steps, quantiles)

    @property
    def steps(self) -> int:
        assert self.spec.series is not None
        return self.spec.series.steps

    def predict_inputs(self, inputs: np.ndarray) -> np.ndarray:
        """Scaled (n, steps, quantiles) from the contract's inputs (n, n_inputs). The products are summed by
        ``einsum``'s own loop, in the same order whatever ``n``, so one window on a device and a million on the host
        give the same numbers."""
        raw = np.einsum("ni,io->no", np.asarray(inputs, np.float64), self.coef) + self.intercept
        return np.sort(raw.reshape(len(inputs), self.steps, len(self.quantiles)) + self.widen, axis=2)

    def predict(self, x: np.ndarray, n_real: np.ndarray) -> np.ndarray:
        """Scaled (n, steps, quantiles) for scaled windows (n, seq_len, n_features) of a week of rows each."""
        x = np.asarray(x)
        n, seq_len, width = x.shape
        ends = np.arange(n) * seq_len + seq_len - 1
        return self.predict_inputs(series_inputs(x.reshape(n * seq_len, width), ends, self.spec))

    def point_index(self) -> int:
        return self.quantiles.index(0.5)

    def to_dict(self) -> dict[str, Any]:
        return {
            "quantiles": list(self.quantiles),
            "inputs": list(series_input_names(self.spec)),
            "coef": self.coef.tolist(),
            "intercept": self.intercept.tolist(),
            "widen": self.widen.tolist(),
        }

    @classmethod
    def from_dict(cls, spec: WindowSpec, d: dict[str, Any]) -> SeriesLinear:
        return cls(
            spec,
            tuple(float(q) for q in d["quantiles"]),
            np.asarray(d["coef"], np.float64),
            np.asarray(d["intercept"], np.float64),
            np.asarray(d["widen"], np.float64),
        )


@dataclass(frozen=True)
class SeriesDocument:
    """What ``<name>.json`` holds: the model, the scaling it was fitted with, and its offline metrics."""

    name: str
    model: SeriesLinear
    scaling: MinMaxScaling
    metrics: dict[str, Any]

    def entry_fields(self, file: str) -> dict[str, Any]:
        """The manifest fields of an entry served from this file."""
        terms = int(self.model.coef.size)
        return dict(
            window=self.model.spec,
            scaling=self.scaling,
            file=file,
            macs=terms,
            parameters=terms + int(self.model.intercept.size),
            arena_bytes=0,
            quantiles=self.model.quantiles,
        )


def write_document(directory: Path, document: SeriesDocument) -> str:
    """Write ``<name>.json``; returns its file name."""
    name = f"{document.name}.json"
    body = {
        "name": document.name,
        "window": document.model.spec.to_dict(),
        "scaling": document.scaling.to_dict(),
        **document.model.to_dict(),
        "metrics": document.metrics,
    }
    (Path(directory) / name).write_text(json.dumps(body, indent=1) + "\n")
    return name


def read_document(path: Path) -> SeriesDocument:
    d = json.loads(Path(path).read_text())
    spec = WindowSpec.from_dict(d["window"])
    if tuple(d["inputs"]) != series_input_names(spec):
        raise ValueError(f"{Path(path).name}: inputs {d['inputs']} are not the contract's {series_input_names(spec)}")
    return SeriesDocument(
        d["name"], SeriesLinear.from_dict(spec, d), MinMaxScaling.from_dict(d["scaling"]), d.get("metrics", {})
    )


class SeriesLinearFamily(Family):
    kind = ModelKind.SERIES_LINEAR

    def build(self, entry: ModelEntry, path: Path | None, runtime: str, num_threads: int) -> Built:
        if path is None:
            raise ValueError(f"model {entry.name!r}: a series model is served from its file")
        document = read_document(path)
        if document.model.spec != entry.window or document.model.quantiles != entry.quantiles:
            raise ValueError(f"{path.name}: window or quantiles differ from manifest entry {entry.name!r}'s")
        # frozen, so its spec is read-only where the Protocol declares a plain attribute: the same object all the same
        return Built(cast(Predictor, document.model), "numpy", document.model.coef.nbytes)


FAMILIES: dict[ModelKind, Family] = {ModelKind.SERIES_LINEAR: SeriesLinearFamily()}
