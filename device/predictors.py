"""The numpy predictors: persistence, the notebook's trend line, and the lag linear regression (float and Q15).

Every predictor maps a batch of scaled, pre-padded windows ``x`` (n, seq_len, n_features) plus the number of real
(unpadded) readings in each window to scaled target predictions (n,). The host evaluation and the device agent both
call these, so a model is scored offline by exactly the code that serves it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from device.contract import TARGET, WindowSpec

Q15_ONE = 32767


class Predictor(Protocol):
    spec: WindowSpec

    def predict(self, x: np.ndarray, n_real: np.ndarray) -> np.ndarray:
        """Scaled predictions (n,) for scaled windows (n, seq_len, n_features)."""
        ...


def _target_column(spec: WindowSpec) -> int:
    if TARGET not in spec.features:
        raise ValueError(f"this predictor needs the target feature {TARGET!r} among the inputs, got {spec.features}")
    return spec.features.index(TARGET)


@dataclass(frozen=True)
class Persistence:
    """Predict the last reading: the honest baseline (at 1-5 minutes ahead it is hard to beat by much)."""

    spec: WindowSpec

    def predict(self, x: np.ndarray, n_real: np.ndarray) -> np.ndarray:
        return np.asarray(x, np.float32)[:, -1, _target_column(self.spec)]


@dataclass(frozen=True)
class TrendLine:
    """The notebook's earlier model: a least-squares line through the last ``k`` real readings, extrapolated
    ``horizon`` steps ahead. It needs only 2 readings; padded zeros are ignored."""

    spec: WindowSpec
    k: int = 10

    def predict(self, x: np.ndarray, n_real: np.ndarray) -> np.ndarray:
        series = np.asarray(x, np.float64)[:, -self.k :, _target_column(self.spec)]
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
        return forecast[:, 0].astype(np.float32)


@dataclass(frozen=True)
class LinearRegression:
    """A linear model on every lag of every feature, in scaled units: ``y = x.flatten() @ coef + intercept``."""

    spec: WindowSpec
    coef: np.ndarray  # (seq_len * n_features,), row-major over (step, feature)
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

    def to_dict(self) -> dict:
        return {"coef": [float(c) for c in self.coef], "intercept": self.intercept}

    @classmethod
    def from_json(cls, path: Path, spec: WindowSpec) -> LinearRegression:
        d = json.loads(Path(path).read_text())
        return cls(spec, np.asarray(d["coef"], np.float64), float(d["intercept"]))


@dataclass(frozen=True)
class LinearRegressionQ15:
    """The same regression in fixed point, bit-exact with ``linreg_predict_q15`` in ``linreg.c``.

    Inputs (scaled, nominally [0, 1]) become Q15 int16; weights become int16 ``w * 2**shift`` with the largest
    shift that fits; each product is shifted right by 15 before it is added, so a 32-bit accumulator cannot overflow
    for windows of up to 65,536 terms.
    """

    spec: WindowSpec
    weights_q: np.ndarray  # int16
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

    def predict_q(self, x: np.ndarray) -> np.ndarray:
        """The raw accumulator (int32) for each window: scaled prediction times ``2**shift``."""
        xq = self.quantize_input(x).reshape(len(x), -1).astype(np.int32)
        products = (xq * self.weights_q.astype(np.int32)) >> 15  # arithmetic shift, as in C on int32
        return products.sum(axis=1, dtype=np.int32) + np.int32(self.bias_q)

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
