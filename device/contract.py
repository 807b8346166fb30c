"""The windowing contract shared by training and serving.

The device owns it (numpy only) and the host imports it, so that the windows a model was trained on and the
windows the agent feeds it are cut, scaled, padded and gap-filled by the same code.

A window of ``seq_len`` readings ending at row ``j`` predicts the value at row ``j + horizon``. For seq 30 and
horizon 5 the inputs are rows ``i..i+29`` and the target is row ``i+34``, as in the seed notebook.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
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
#: The issue's window, declared here only: the last 30 one-minute readings forecast the reading 5 minutes after
#: the newest. Training, conversion, the simulator and the benchmarks take these defaults from here.
DEFAULT_SEQ_LEN = 30
DEFAULT_HORIZON = 5

_MINUTES_PER_DAY = 24 * 60
_MINUTES_PER_WEEK = 7 * _MINUTES_PER_DAY
# 1970-01-01 was a Thursday: shift so that day-of-week 0 is Monday.
_EPOCH_WEEKDAY_OFFSET_MIN = 3 * _MINUTES_PER_DAY


class FillPolicy(enum.StrEnum):
    """What to do with a missing reading (``?`` in the file, null/NaN on the wire, or an absent minute)."""

    FORWARD_FILL = "ffill"  # repeat the last known reading (the default, as the notebook did)
    DROP = "drop"  # fill for continuity, but never use a window or target that touches a gap


@dataclass(frozen=True)
class SeriesSpec:
    """A series model's outputs: ``steps`` consecutive blocks of ``step_minutes`` one-minute readings, the first
    starting the minute after the window's newest reading (12 x 5 = the next hour, minutes t+1..t+60)."""

    step_minutes: int = 5
    steps: int = 12

    def __post_init__(self) -> None:
        if self.step_minutes < 1 or self.steps < 1:
            raise ValueError(f"step_minutes and steps must be >= 1, got {self.step_minutes}/{self.steps}")

    @property
    def horizon_minutes(self) -> int:
        return self.step_minutes * self.steps

    def to_dict(self) -> dict[str, int]:
        return {"step_minutes": self.step_minutes, "steps": self.steps}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SeriesSpec:
        return cls(int(d["step_minutes"]), int(d["steps"]))


@dataclass(frozen=True)
class WindowSpec:
    """How a model sees the stream: which features, how many steps, how far ahead.

    ``series`` is set for a series model (:class:`SeriesSpec`): it then forecasts ``series.steps`` block means and
    ``horizon`` is the last minute they reach."""

    seq_len: int = DEFAULT_SEQ_LEN
    horizon: int = DEFAULT_HORIZON
    features: tuple[str, ...] = (TARGET,)
    fill_policy: FillPolicy = FillPolicy.FORWARD_FILL
    series: SeriesSpec | None = None

    def __post_init__(self) -> None:
        if self.seq_len < MIN_HISTORY or self.horizon < 1:
            raise ValueError(f"seq_len must be >= {MIN_HISTORY} and horizon >= 1, got {self.seq_len}/{self.horizon}")
        unknown = set(self.features) - set(MEASUREMENTS) - set(CALENDAR_FEATURES)
        if unknown:
            raise ValueError(f"unknown features {sorted(unknown)}; known: {MEASUREMENTS + CALENDAR_FEATURES}")

    @property
    def n_features(self) -> int:
        return len(self.features)

    def to_dict(self) -> dict[str, Any]:
        """The JSON of the manifest; ``series`` only where set, so a point model's entry reads as before."""
        d: dict[str, Any] = {
            "seq_len": self.seq_len,
            "horizon": self.horizon,
            "features": list(self.features),
            "fill_policy": self.fill_policy.value,
        }
        if self.series is not None:
            d["series"] = self.series.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> WindowSpec:
        series = SeriesSpec.from_dict(d["series"]) if d.get("series") else None
        return cls(
            int(d["seq_len"]),
            int(d["horizon"]),
            tuple(d["features"]),
            FillPolicy(d.get("fill_policy", "ffill")),
            series,
        )


@dataclass(frozen=True)
class MinMaxScaling:
    """Per-feature min-max scaling to [0, 1], fitted on the training part only.

    Stored as plain numbers so the device applies exactly what the host fitted.
    """

    data_min: tuple[float, ...]
    data_max: tuple[float, ...]
    target_min: float = 0.0
    target_max: float = 1.0
    _span: npt.NDArray[np.float64] = field(init=False, repr=False, compare=False)

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
        return ((np.asarray(features, np.float64) - np.asarray(self.data_min, np.float64)) / self._span).astype(
            np.float32
        )

    def transform_target(self, y: np.ndarray | float) -> np.ndarray:
        span = (self.target_max - self.target_min) or 1.0
        return ((np.asarray(y, np.float64) - self.target_min) / span).astype(np.float32)

    def inverse_target(self, y_scaled: np.ndarray | float) -> np.ndarray:
        """Map a model's scaled output back to kW."""
        span = (self.target_max - self.target_min) or 1.0
        return np.asarray(y_scaled, np.float64) * span + self.target_min

    def to_dict(self) -> dict[str, Any]:
        return {
            "data_min": list(self.data_min),
            "data_max": list(self.data_max),
            "target_min": self.target_min,
            "target_max": self.target_max,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MinMaxScaling:
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
        calendar[:, CALENDAR_FEATURES.index(name)]
        if name in CALENDAR_FEATURES and calendar is not None
        else np.asarray(measurements[name])
        for name in features
    ]
    return np.stack(columns, axis=1).astype(np.float64)


def window_rows(rows: np.ndarray, ends: np.ndarray, seq_len: int, earlier: np.ndarray | None = None) -> np.ndarray:
    """The window of ``seq_len`` rows ending at each of ``ends`` (indices into ``rows``), oldest first:
    (len(ends), seq_len, width) in the rows' dtype, contiguous.

    ``earlier`` holds the rows just before ``rows[0]`` (oldest first, e.g. the agent's ring); where history runs out
    the window is zero-padded in front, as Keras ``pad_sequences(padding='pre')`` did in the notebook. This is the
    one windowing of the project: the host's batch and streaming windows and the agent's windows all come from here.
    """
    rows = np.asarray(rows).reshape(len(rows), -1)
    ends = np.asarray(ends, np.intp)
    if len(ends) == 0:
        return np.empty((0, seq_len, rows.shape[1]), rows.dtype)
    padded = np.zeros((seq_len - 1 + len(rows), rows.shape[1]), rows.dtype)
    if earlier is not None:
        earlier = np.asarray(earlier).reshape(-1, rows.shape[1])[max(0, len(earlier) - seq_len + 1) :]
        padded[seq_len - 1 - len(earlier) : seq_len - 1] = earlier
    padded[seq_len - 1 :] = rows
    if len(ends) == 1:  # the agent's usual case at a meter's pace: one plain slice
        return np.ascontiguousarray(padded[ends[0] : ends[0] + seq_len][None])
    # sliding_window_view puts the window axis last; gathering the transposed view copies once, contiguous
    windows: np.ndarray = sliding_window_view(padded, seq_len, axis=0).transpose(0, 2, 1)[ends]
    return windows


def clear_of_gaps(missing: np.ndarray | None, ends: np.ndarray, spec: WindowSpec) -> np.ndarray:
    """Which windows ending at ``ends`` the fill policy keeps: under :attr:`FillPolicy.DROP`, none whose inputs or
    target touch a row flagged in ``missing`` (True where the reading was filled). Rows before the first are
    padding, never missing."""
    ends = np.asarray(ends, np.intp)
    if missing is None or spec.fill_policy is FillPolicy.FORWARD_FILL:
        return np.ones(len(ends), bool)
    missing = np.asarray(missing, bool)
    touched = window_rows(missing, ends, spec.seq_len).any(axis=(1, 2))
    kept: np.ndarray = ~(touched | missing[ends + spec.horizon])
    return kept


def _windows_ending_at(
    ends: np.ndarray,
    scaled_features: np.ndarray,
    scaled_target: np.ndarray,
    spec: WindowSpec,
    missing: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X, y, ends) of the windows ending at ``ends`` that the fill policy keeps; y is the row ``horizon`` later."""
    ends = np.asarray(ends, np.intp)[clear_of_gaps(missing, ends, spec)]
    feats = np.asarray(scaled_features, np.float32).reshape(len(scaled_features), -1)
    y = np.asarray(scaled_target, np.float32)[ends + spec.horizon]
    return window_rows(feats, ends, spec.seq_len), y, ends


def make_windows(
    scaled_features: np.ndarray,
    scaled_target: np.ndarray,
    spec: WindowSpec,
    missing: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Cut every full window: X (n, seq_len, n_features) float32 and y (n,) float32.

    A window of ``seq_len`` rows ending at row ``j`` predicts row ``j + horizon``. With :attr:`FillPolicy.DROP`,
    ``missing`` (a boolean per row, True where the reading was filled) removes every window whose inputs or target
    touch a filled row.
    """
    ends = np.arange(spec.seq_len - 1, len(scaled_features) - spec.horizon)
    x, y, _ = _windows_ending_at(ends, scaled_features, scaled_target, spec, missing)
    return x, y


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
    ends = np.arange(MIN_HISTORY - 1, len(scaled_features) - spec.horizon)
    return _windows_ending_at(ends, scaled_features, scaled_target, spec, missing)


# --- Series models: the next hour from the last two hours, yesterday and the last week at the same time of day.
#: A series window reaches back a week: the same minutes seven days before the forecast hour are among its inputs.
SERIES_SEQ_LEN = 7 * _MINUTES_PER_DAY
#: Five-minute block means of the newest two hours of readings.
SERIES_RECENT_BLOCKS = 24
SERIES_DAYS = 7


def series_window(series: SeriesSpec, features: tuple[str, ...] = (TARGET, "hour_sin", "hour_cos")) -> WindowSpec:
    """The window of a series model: a week of one-minute rows of ``features`` (the target among them)."""
    return WindowSpec(SERIES_SEQ_LEN, series.horizon_minutes, features, series=series)


def series_input_names(spec: WindowSpec) -> tuple[str, ...]:
    """The names of :func:`series_inputs`' columns, in order (for the docs and the model file)."""
    series = _series_of(spec)
    recent = [f"mean_{TARGET}_block_-{k}" for k in range(SERIES_RECENT_BLOCKS - 1, -1, -1)]
    lag_day = [f"{TARGET}_1d_ago_step_{s + 1}" for s in range(series.steps)]
    lag_week = [f"{TARGET}_mean_7d_step_{s + 1}" for s in range(series.steps)]
    calendar = [f for f in spec.features if f in CALENDAR_FEATURES]
    return (*recent, *lag_day, *lag_week, f"{TARGET}_last", *calendar)


def _series_of(spec: WindowSpec) -> SeriesSpec:
    if spec.series is None:
        raise ValueError("this window has no series spec: it belongs to a point model")
    needed = SERIES_DAYS * _MINUTES_PER_DAY
    if spec.seq_len < needed or spec.series.horizon_minutes > _MINUTES_PER_DAY:
        raise ValueError(f"a series window needs seq_len >= {needed} and a horizon of at most a day, got {spec}")
    return spec.series


def _block_means(target: np.ndarray, first_rows: np.ndarray, length: int) -> np.ndarray:
    """Means of ``length`` consecutive rows of ``target`` from each of ``first_rows`` (any shape), float64.

    Many overlapping windows (the host's batch of a window per minute) ask for the same blocks many times: then every
    block starting in their range is averaged once and looked up. Each block is the mean of the same contiguous
    ``length`` values either way (the same reduction, bit for bit), so a device's one window and the host's batch
    still give the same numbers."""
    first_rows = np.asarray(first_rows, np.intp)
    if first_rows.size == 0:
        return np.zeros(first_rows.shape)
    low, high = int(first_rows.min()), int(first_rows.max())
    if high - low + 1 < first_rows.size:
        every = target[np.arange(low, high + 1)[:, None] + np.arange(length)].mean(axis=-1)
        looked_up: np.ndarray = every[first_rows - low]
        return looked_up
    means: np.ndarray = target[first_rows[..., None] + np.arange(length)].mean(axis=-1)
    return means


def series_inputs(rows: np.ndarray, ends: np.ndarray, spec: WindowSpec) -> np.ndarray:
    """A series model's inputs (len(ends), len(series_input_names(spec))) float64, from scaled feature rows
    (n, n_features) in ``spec.features`` order and the rows ``ends`` its windows end at (each needs
    ``spec.seq_len - 1`` rows before it).

    The one computation of these inputs: the host evaluation calls it on a whole part of the file, the device on a
    week of its ring (a window of ``spec.seq_len`` rows, whose newest row is the end), and both get the same numbers
    for the same minutes. Columns: the mean of each of the last :data:`SERIES_RECENT_BLOCKS` blocks of
    ``step_minutes`` (oldest first), the forecast blocks' means one day earlier, their means over the last
    :data:`SERIES_DAYS` days, the newest reading, and the calendar features of the newest row.
    """
    series = _series_of(spec)
    rows = np.asarray(rows, np.float64).reshape(len(rows), -1)
    ends = np.asarray(ends, np.intp)
    if len(ends) and (ends.min() < SERIES_DAYS * _MINUTES_PER_DAY - 1 or ends.max() >= len(rows)):
        raise ValueError(f"series windows need {SERIES_DAYS * _MINUTES_PER_DAY - 1} rows before their end")
    target = np.ascontiguousarray(rows[:, spec.features.index(TARGET)])
    width = series.step_minutes
    recent_starts = ends[:, None] - width * np.arange(SERIES_RECENT_BLOCKS - 1, -1, -1) - (width - 1)
    step_starts = ends[:, None] + 1 + width * np.arange(series.steps)
    days_back = _MINUTES_PER_DAY * np.arange(1, SERIES_DAYS + 1)
    daily = _block_means(target, step_starts[:, None, :] - days_back[None, :, None], width)  # (n, days, steps)
    calendar = [spec.features.index(f) for f in spec.features if f in CALENDAR_FEATURES]
    return np.concatenate(
        [
            _block_means(target, recent_starts, width),
            daily[:, 0],
            daily.mean(axis=1),
            target[ends][:, None],
            rows[ends][:, calendar],
        ],
        axis=1,
    )


def series_targets(target: np.ndarray, ends: np.ndarray, series: SeriesSpec) -> np.ndarray:
    """What a series model forecasts for windows ending at ``ends``: (n, steps) means of the following blocks of
    ``step_minutes`` rows of ``target`` (rows ``end+1 .. end+steps*step_minutes``)."""
    starts = np.asarray(ends, np.intp)[:, None] + 1 + series.step_minutes * np.arange(series.steps)
    return _block_means(np.asarray(target, np.float64), starts, series.step_minutes)
