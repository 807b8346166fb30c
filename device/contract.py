"""The windowing contract shared by training and serving.

The device owns it (numpy only) and the host imports it, so that the windows a model was trained on and the
windows the agent feeds it are cut, scaled, padded and gap-filled by the same code.

A window of ``seq_len`` readings ending at row ``j`` predicts the value at row ``j + horizon``. For seq 30 and
horizon 5 the inputs are rows ``i..i+29`` and the target is row ``i+34``, as in the seed notebook.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

#: Canonical short feature names (the keys of the MQTT payload) in the UCI file's column order.
MEASUREMENTS: tuple[str, ...] = ("gap", "grp", "v", "gi", "sm1", "sm2", "sm3")
#: The UCI column each measurement comes from.
UCI_COLUMNS: dict[str, str] = {
    "gap": "Global_active_power",
    "grp": "Global_reactive_power",
    "v": "Voltage",
    "gi": "Global_intensity",
    "sm1": "Sub_metering_1",
    "sm2": "Sub_metering_2",
    "sm3": "Sub_metering_3",
}
#: Features computed from the reading's timestamp, so a device can compute them too.
CALENDAR_FEATURES: tuple[str, ...] = ("hour_sin", "hour_cos", "dow_sin", "dow_cos")
TARGET = "gap"
#: The notebook's streaming validation starts predicting after this many readings, zero-padded in front.
MIN_HISTORY = 2

_MINUTES_PER_DAY = 24 * 60
_MINUTES_PER_WEEK = 7 * _MINUTES_PER_DAY
# 1970-01-01 was a Thursday: shift so that day-of-week 0 is Monday.
_EPOCH_WEEKDAY_OFFSET_MIN = 3 * _MINUTES_PER_DAY


class FillPolicy(str, enum.Enum):
    """What to do with a missing reading (``?`` in the file, null/NaN on the wire, or an absent minute)."""

    FORWARD_FILL = "ffill"  # repeat the last known reading (the default, as the notebook did)
    DROP = "drop"  # fill for continuity, but never use a window or target that touches a gap


@dataclass(frozen=True)
class WindowSpec:
    """How a model sees the stream: which features, how many steps, how far ahead."""

    seq_len: int = 30
    horizon: int = 5
    features: tuple[str, ...] = (TARGET,)
    fill_policy: FillPolicy = FillPolicy.FORWARD_FILL

    def __post_init__(self) -> None:
        if self.seq_len < MIN_HISTORY or self.horizon < 1:
            raise ValueError(f"seq_len must be >= {MIN_HISTORY} and horizon >= 1, got {self.seq_len}/{self.horizon}")
        unknown = set(self.features) - set(MEASUREMENTS) - set(CALENDAR_FEATURES)
        if unknown:
            raise ValueError(f"unknown features {sorted(unknown)}; known: {MEASUREMENTS + CALENDAR_FEATURES}")

    @property
    def n_features(self) -> int:
        return len(self.features)

    def to_dict(self) -> dict:
        return {
            "seq_len": self.seq_len,
            "horizon": self.horizon,
            "features": list(self.features),
            "fill_policy": self.fill_policy.value,
        }

    @classmethod
    def from_dict(cls, d: dict) -> WindowSpec:
        return cls(int(d["seq_len"]), int(d["horizon"]), tuple(d["features"]), FillPolicy(d.get("fill_policy", "ffill")))


@dataclass(frozen=True)
class MinMaxScaling:
    """Per-feature min-max scaling to [0, 1], fitted on the training part only.

    Stored as plain numbers so the device applies exactly what the host fitted.
    """

    data_min: tuple[float, ...]
    data_max: tuple[float, ...]
    target_min: float = 0.0
    target_max: float = 1.0
    _span: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        span = np.asarray(self.data_max, np.float64) - np.asarray(self.data_min, np.float64)
        # A constant feature (e.g. a sub-meter that never ran) would divide by zero: scale it by 1.
        object.__setattr__(self, "_span", np.where(span > 0, span, 1.0))

    @classmethod
    def fit(cls, features: np.ndarray, target: np.ndarray) -> MinMaxScaling:
        """Fit on ``features`` of shape (rows, n_features) and the raw ``target`` column, ignoring NaN."""
        features = np.asarray(features, np.float64).reshape(len(features), -1)
        return cls(
            tuple(float(v) for v in np.nanmin(features, axis=0)),
            tuple(float(v) for v in np.nanmax(features, axis=0)),
            float(np.nanmin(target)),
            float(np.nanmax(target)),
        )

    def transform(self, features: np.ndarray) -> np.ndarray:
        """Scale raw features (..., n_features) to float32."""
        return ((np.asarray(features, np.float64) - np.asarray(self.data_min)) / self._span).astype(np.float32)

    def transform_target(self, y: np.ndarray | float) -> np.ndarray:
        span = (self.target_max - self.target_min) or 1.0
        return ((np.asarray(y, np.float64) - self.target_min) / span).astype(np.float32)

    def inverse_target(self, y_scaled: np.ndarray | float) -> np.ndarray:
        """Map a model's scaled output back to kW."""
        span = (self.target_max - self.target_min) or 1.0
        return np.asarray(y_scaled, np.float64) * span + self.target_min

    def to_dict(self) -> dict:
        return {
            "data_min": list(self.data_min),
            "data_max": list(self.data_max),
            "target_min": self.target_min,
            "target_max": self.target_max,
        }

    @classmethod
    def from_dict(cls, d: dict) -> MinMaxScaling:
        return cls(tuple(d["data_min"]), tuple(d["data_max"]), float(d["target_min"]), float(d["target_max"]))


def forward_fill(values: np.ndarray) -> np.ndarray:
    """Replace each NaN by the last non-NaN value above it, column-wise, without a Python loop over rows.

    Leading NaNs (nothing to fill from) stay NaN; callers drop them.
    """
    values = np.asarray(values, np.float64)
    flat = values.reshape(len(values), -1)
    valid = ~np.isnan(flat)
    idx = np.where(valid, np.arange(len(flat))[:, None], 0)
    np.maximum.accumulate(idx, axis=0, out=idx)
    filled = flat[idx, np.arange(flat.shape[1])]
    filled[~np.maximum.accumulate(valid, axis=0)] = np.nan
    return filled.reshape(values.shape)


def calendar_features(minutes_since_epoch: np.ndarray) -> np.ndarray:
    """Time of day and day of week as sin/cos pairs, from timestamps in whole minutes since 1970-01-01.

    Returns shape (n, 4) in the order of :data:`CALENDAR_FEATURES`. Values are already in [-1, 1]; min-max scaling
    still applies to them like to any feature, so the contract stays one code path.
    """
    m = np.asarray(minutes_since_epoch, np.int64)
    day_angle = 2 * np.pi * (m % _MINUTES_PER_DAY) / _MINUTES_PER_DAY
    week_angle = 2 * np.pi * ((m + _EPOCH_WEEKDAY_OFFSET_MIN) % _MINUTES_PER_WEEK) / _MINUTES_PER_WEEK
    return np.stack([np.sin(day_angle), np.cos(day_angle), np.sin(week_angle), np.cos(week_angle)], axis=1)


def feature_matrix(
    measurements: dict[str, np.ndarray], minutes_since_epoch: np.ndarray, features: tuple[str, ...]
) -> np.ndarray:
    """Assemble the (rows, n_features) matrix a model sees from raw measurement columns and timestamps."""
    calendar = calendar_features(minutes_since_epoch) if set(features) & set(CALENDAR_FEATURES) else None
    columns = [
        calendar[:, CALENDAR_FEATURES.index(name)] if name in CALENDAR_FEATURES else np.asarray(measurements[name])
        for name in features
    ]
    return np.stack(columns, axis=1).astype(np.float64)


def window_target_index(start: int, spec: WindowSpec) -> int:
    """Row of the target for the window whose first input row is ``start``."""
    return start + spec.seq_len - 1 + spec.horizon


def make_windows(
    scaled_features: np.ndarray,
    scaled_target: np.ndarray,
    spec: WindowSpec,
    missing: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut every full window: X (n, seq_len, n_features) float32 and y (n,) float32.

    With :attr:`FillPolicy.DROP`, ``missing`` (a boolean per row, True where the reading was filled) removes every
    window whose inputs or target touch a filled row.
    """
    feats = np.asarray(scaled_features, np.float32).reshape(len(scaled_features), -1)
    n_windows = len(feats) - spec.seq_len - spec.horizon + 1
    if n_windows <= 0:
        return np.empty((0, spec.seq_len, feats.shape[1]), np.float32), np.empty((0,), np.float32)
    # sliding_window_view puts the window axis last: (n, n_features, seq_len) -> (n, seq_len, n_features)
    x = sliding_window_view(feats, spec.seq_len, axis=0)[:n_windows].transpose(0, 2, 1)
    y = np.asarray(scaled_target, np.float32)[spec.seq_len - 1 + spec.horizon :]
    keep = _windows_clear_of_gaps(missing, spec, n_windows)
    return np.ascontiguousarray(x[keep]), y[keep]


def _windows_clear_of_gaps(missing: np.ndarray | None, spec: WindowSpec, n_windows: int) -> np.ndarray:
    if missing is None or spec.fill_policy is FillPolicy.FORWARD_FILL:
        return np.ones(n_windows, bool)
    missing = np.asarray(missing, bool)
    touched = sliding_window_view(missing, spec.seq_len)[:n_windows].any(axis=1)
    return ~(touched | missing[spec.seq_len - 1 + spec.horizon :])


def pre_pad(window: np.ndarray, seq_len: int) -> np.ndarray:
    """Zero-pad a short history in front to ``seq_len`` steps, as Keras ``pad_sequences(padding='pre')`` did."""
    window = np.asarray(window, np.float32).reshape(len(window), -1)
    if len(window) >= seq_len:
        return window[-seq_len:]
    padded = np.zeros((seq_len, window.shape[1]), np.float32)
    padded[seq_len - len(window) :] = window
    return padded


def streaming_windows(
    scaled_features: np.ndarray,
    scaled_target: np.ndarray,
    spec: WindowSpec,
    missing: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The notebook's streaming validation, vectorised: one window per reading from the :data:`MIN_HISTORY`-th on.

    The window ending at row ``j`` holds rows ``max(0, j-seq_len+1)..j``, zero-padded in front, and predicts row
    ``j + horizon``. Returns (X, y, end_rows). This is what the device agent does reading by reading.
    """
    feats = np.asarray(scaled_features, np.float32).reshape(len(scaled_features), -1)
    padded = np.concatenate([np.zeros((spec.seq_len - 1, feats.shape[1]), np.float32), feats])
    end_rows = np.arange(MIN_HISTORY - 1, len(feats) - spec.horizon)
    if len(end_rows) == 0:
        return np.empty((0, spec.seq_len, feats.shape[1]), np.float32), np.empty((0,), np.float32), end_rows
    x = sliding_window_view(padded, spec.seq_len, axis=0).transpose(0, 2, 1)[end_rows]
    y = np.asarray(scaled_target, np.float32)[end_rows + spec.horizon]
    if missing is not None and spec.fill_policy is FillPolicy.DROP:
        missing = np.asarray(missing, bool)
        padded_missing = np.concatenate([np.zeros(spec.seq_len - 1, bool), missing])
        touched = sliding_window_view(padded_missing, spec.seq_len)[end_rows].any(axis=1)
        keep = ~(touched | missing[end_rows + spec.horizon])
        x, y, end_rows = x[keep], y[keep], end_rows[keep]
    return np.ascontiguousarray(x), y, end_rows
