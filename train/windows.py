"""Cut scaled windows for one feature set from a chronological split, through the device contract.

The scaling is fitted on the training rows only, and windows are cut inside each part, so no test reading leaks
into training, neither through a window that straddles the cut nor through the min/max of the scaler.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from device.contract import TARGET, MinMaxScaling, WindowSpec, feature_matrix, make_windows, streaming_windows
from train.data import Measurements


@dataclass
class SplitWindows:
    """Scaled windows of one :class:`WindowSpec`: training, test, and the test part as the device streams it."""

    spec: WindowSpec
    scaling: MinMaxScaling
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    x_stream: np.ndarray  # one zero-padded window per test reading from the contract's MIN_HISTORY-th on
    y_stream: np.ndarray
    n_real_stream: np.ndarray  # how many of each streaming window's steps are real readings
    dropped_windows: int  # training + test windows the DROP policy removed because they touch a gap

    @property
    def n_real_test(self) -> np.ndarray:
        """Full windows: every step is a real (or filled) reading."""
        return np.full(len(self.x_test), self.spec.seq_len)


def cut_windows(
    series: Measurements, train_rows: slice, test_rows: slice, spec: WindowSpec, scaling: MinMaxScaling | None = None
) -> SplitWindows:
    """Fit the scaling on ``train_rows`` (or take ``scaling``: a model trained on other data, scored on these rows),
    then cut full windows inside each part and streaming windows in the test part. ``series`` must be filled (no
    NaN); its ``missing`` flags drive the DROP policy."""
    features = feature_matrix(series.values, series.clock_minutes, spec.features)
    target = series.values[TARGET]
    scaling = scaling or MinMaxScaling.fit(features[train_rows], target[train_rows])

    def part(rows: slice) -> tuple[np.ndarray, np.ndarray]:
        return scaling.transform(features[rows]), scaling.transform_target(target[rows])

    train, test = part(train_rows), part(test_rows)
    x_train, y_train = make_windows(*train, spec, series.missing[train_rows])
    x_test, y_test = make_windows(*test, spec, series.missing[test_rows])
    x_stream, y_stream, end_rows = streaming_windows(*test, spec, series.missing[test_rows])
    possible = sum(max(0, len(p[0]) - spec.seq_len - spec.horizon + 1) for p in (train, test))
    return SplitWindows(
        spec,
        scaling,
        x_train,
        y_train,
        x_test,
        y_test,
        x_stream,
        y_stream,
        np.minimum(end_rows + 1, spec.seq_len),
        possible - len(y_train) - len(y_test),
    )
