"""The lag linear regression, float and Q15 fixed point, and ``<name>.json``, the one file both are served from.

:func:`write_document` is the only writer of that file (the converter and the test assets call it) and
:func:`read_document` its only reader; the window is stored once, as ``window``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from device.contract import MinMaxScaling, WindowSpec
from device.models.entry import ModelEntry
from device.models.families import Built, Family
from device.models.kinds import ModelKind

Q15_ONE = 32767


@dataclass(frozen=True)
class LinearRegression:
    """A linear model on every lag of every feature, in scaled units: ``y = x.flatten() @ coef + intercept``."""

    spec: WindowSpec
    coef: npt.NDArray[np.floating[Any]]  # (seq_len * n_features,), row-major over (step, feature)
    intercept: float

    @classmethod
    def fit(cls, spec: WindowSpec, x: np.ndarray, y: np.ndarray) -> LinearRegression:
        """Closed-form least squares (numpy ``lstsq``): deterministic, seconds even on millions of windows."""
        flat = np.asarray(x, np.float64).reshape(len(x), -1)
        design = np.hstack([flat, np.ones((len(flat), 1))])
        solution, *_ = np.linalg.lstsq(design, np.asarray(y, np.float64), rcond=None)
        return cls(spec, solution[:-1], float(solution[-1]))

    def predict(self, x: np.ndarray, n_real: np.ndarray) -> np.ndarray:
        flat = np.asarray(x, np.float64).reshape(len(x), -1)
        return (flat @ self.coef + self.intercept).astype(np.float32)

    def to_dict(self) -> dict[str, Any]:
        """The coefficients as JSON values (in ``<name>.json`` and in training's hand-over)."""
        return {"coef": [float(c) for c in self.coef], "intercept": float(self.intercept)}

    @classmethod
    def from_dict(cls, spec: WindowSpec, d: dict[str, Any]) -> LinearRegression:
        return cls(spec, np.asarray(d["coef"], np.float64), float(d["intercept"]))


@dataclass(frozen=True)
class LinearRegressionQ15:
    """The same regression in fixed point, bit-exact with ``linreg_predict_q15`` in ``linreg.c``.

    Inputs (scaled, nominally [0, 1]) become Q15 int16; weights become int16 ``w * 2**shift`` with the largest
    shift that fits; each product is shifted right by 15 before it is added, so a 32-bit accumulator cannot overflow
    for windows of up to 65,536 terms.
    """

    spec: WindowSpec
    weights_q: npt.NDArray[np.int16]
    bias_q: int
    shift: int

    @classmethod
    def from_float(cls, model: LinearRegression) -> LinearRegressionQ15:
        largest = float(np.max(np.abs(model.coef))) or 1.0
        shift = int(np.floor(np.log2(Q15_ONE / largest)))
        weights = np.clip(np.round(model.coef * 2.0**shift), -32768, 32767).astype(np.int16)
        return cls(model.spec, weights, int(round(model.intercept * 2.0**shift)), shift)

    @staticmethod
    def quantize_input(x: np.ndarray) -> np.ndarray:
        return np.clip(np.round(np.asarray(x, np.float64) * Q15_ONE), -32768, 32767).astype(np.int16)

    def predict_q(self, x: np.ndarray) -> npt.NDArray[np.int32]:
        """The raw accumulator (int32) for each window: scaled prediction times ``2**shift``."""
        xq = self.quantize_input(x).reshape(len(x), -1).astype(np.int32)
        products = (xq * self.weights_q.astype(np.int32)) >> 15  # arithmetic shift, as in C on int32
        accumulators: npt.NDArray[np.int32] = products.sum(axis=1, dtype=np.int32) + np.int32(self.bias_q)
        return accumulators

    def predict(self, x: np.ndarray, n_real: np.ndarray) -> np.ndarray:
        return (self.predict_q(x) / 2.0**self.shift).astype(np.float32)

    def error_bound(self) -> float:
        """Worst-case |fixed - float| in scaled units for inputs in [-1, 1]: rounding of inputs, weights,
        bias, and the truncating shift of every product."""
        n = self.weights_q.size
        step = 2.0**-self.shift
        return float(
            n * step  # each >>15 truncates by < 1 LSB of the accumulator
            + 0.5 * step  # the bias' rounding
            + n * 0.5 * step  # each weight's rounding, times |x| <= 1
            + np.abs(self.weights_q).sum() * step * 0.5 / Q15_ONE  # each input's rounding, times |w|
        )


@dataclass(frozen=True)
class LinregDocument:
    """What ``<name>.json`` holds: the float model, its Q15 twin, and the scaling both were fitted with."""

    name: str
    model: LinearRegression
    fixed: LinearRegressionQ15
    scaling: MinMaxScaling
    metrics: dict[str, Any]

    @classmethod
    def of(
        cls, name: str, model: LinearRegression, scaling: MinMaxScaling, metrics: dict[str, Any] | None = None
    ) -> LinregDocument:
        return cls(name, model, LinearRegressionQ15.from_float(model), scaling, metrics or {})

    @property
    def window(self) -> WindowSpec:
        return self.model.spec

    def entry_fields(self, file: str) -> dict[str, Any]:
        """The manifest fields every entry served from this file shares."""
        terms = len(self.model.coef)
        return dict(
            window=self.window, scaling=self.scaling, file=file, macs=terms, parameters=terms + 1, arena_bytes=0
        )


def write_document(directory: Path, document: LinregDocument) -> str:
    """Write ``<name>.json``; returns its file name."""
    model, fixed = document.model, document.fixed
    name = f"{document.name}.json"
    (Path(directory) / name).write_text(
        json.dumps(
            {
                "name": document.name,
                "window": document.window.to_dict(),
                "scaling": document.scaling.to_dict(),
                **model.to_dict(),
                "weights_q": [int(w) for w in fixed.weights_q],
                "bias_q": int(fixed.bias_q),
                "shift": int(fixed.shift),
                "q15_error_bound_scaled": fixed.error_bound(),
                "metrics": document.metrics,
            },
            indent=2,
        )
        + "\n"
    )
    return name


def read_document(path: Path) -> LinregDocument:
    """Both models from ``path``, fixed point as stored (never re-derived: the C export holds the same integers)."""
    d = json.loads(Path(path).read_text())
    spec = WindowSpec.from_dict(d["window"])
    model = LinearRegression.from_dict(spec, d)
    fixed = LinearRegressionQ15(spec, np.asarray(d["weights_q"], np.int16), int(d["bias_q"]), int(d["shift"]))
    return LinregDocument(d["name"], model, fixed, MinMaxScaling.from_dict(d["scaling"]), d.get("metrics", {}))


def _document_for(entry: ModelEntry, path: Path | None) -> LinregDocument:
    if path is None:
        raise ValueError(f"model {entry.name!r}: a linear regression needs its file")
    document = read_document(path)
    if document.window != entry.window:
        raise ValueError(
            f"{path.name}: window {document.window} differs from manifest entry {entry.name!r}'s {entry.window}"
        )
    return document


class LinregFamily(Family):
    kind = ModelKind.LINREG

    def build(self, entry: ModelEntry, path: Path | None, runtime: str, num_threads: int) -> Built:
        model = _document_for(entry, path).model
        return Built(model, "numpy", model.coef.nbytes)


class LinregQ15Family(Family):
    kind = ModelKind.LINREG_Q15

    def build(self, entry: ModelEntry, path: Path | None, runtime: str, num_threads: int) -> Built:
        fixed = _document_for(entry, path).fixed
        return Built(fixed, "numpy", fixed.weights_q.nbytes)


FAMILIES: dict[ModelKind, Family] = {ModelKind.LINREG: LinregFamily(), ModelKind.LINREG_Q15: LinregQ15Family()}
