"""No leakage: the scaling is fitted on the training rows only and no window crosses the split; streaming windows
are pre-padded as the device pads them; the drop policy counts what it removed."""

from __future__ import annotations

import numpy as np
import pytest

from device.contract import MEASUREMENTS, FillPolicy, WindowSpec
from train.data import Measurements
from train.windows import cut_windows

N = 200
TRAIN, TEST = slice(0, 160), slice(160, 200)
SPEC = WindowSpec(seq_len=10, horizon=5, features=("gap",))


def ramp(missing_rows: tuple[int, ...] = ()) -> Measurements:
    """gap = the row number, so every scaled value says which row it came from."""
    values = {m: np.arange(N, dtype=float) for m in MEASUREMENTS}
    missing = np.zeros(N, bool)
    missing[list(missing_rows)] = True
    return Measurements(np.arange(N, dtype=np.int64), values, missing)


def rows_of(scaled: np.ndarray, windows) -> np.ndarray:
    return np.rint(windows.scaling.inverse_target(scaled)).astype(int)


def test_scaling_is_fitted_on_the_training_rows_only():
    series = ramp()
    series.values["gap"][190] = 1000.0  # a spike in the test part must not change the scaling
    w = cut_windows(series, TRAIN, TEST, SPEC)
    assert (w.scaling.data_min, w.scaling.data_max) == ((0.0,), (159.0,))
    assert (w.scaling.target_min, w.scaling.target_max) == (0.0, 159.0)


def test_no_training_window_reads_or_targets_a_test_row():
    w = cut_windows(ramp(), TRAIN, TEST, SPEC)
    assert rows_of(w.x_train, w).max() == 159 - 5 and rows_of(w.y_train, w).max() == 159
    assert len(w.y_train) == 160 - 10 - 5 + 1


def test_test_windows_start_inside_the_test_part():
    w = cut_windows(ramp(), TRAIN, TEST, SPEC)
    assert rows_of(w.x_test, w).min() == 160 and rows_of(w.y_test, w).min() == 160 + 14
    assert len(w.y_test) == 40 - 10 - 5 + 1


def test_streaming_starts_after_two_readings_zero_padded():
    w = cut_windows(ramp(), TRAIN, TEST, SPEC)
    first = w.x_stream[0, :, 0]
    assert np.all(first[:-2] == 0) and rows_of(first[-2:], w).tolist() == [160, 161]
    assert w.n_real_stream[:3].tolist() == [2, 3, 4] and w.n_real_stream[-1] == 10
    assert rows_of(w.y_stream[0], w) == 161 + 5
    assert len(w.y_stream) == 40 - 1 - 5


def test_drop_policy_counts_the_windows_touching_a_gap():
    spec = WindowSpec(10, 5, ("gap",), FillPolicy.DROP)
    w = cut_windows(ramp(missing_rows=(50,)), TRAIN, TEST, spec)
    assert w.dropped_windows == 11  # 10 windows read row 50, 1 targets it
    assert 50 not in rows_of(w.x_train, w) and 50 not in rows_of(w.y_train, w)


@pytest.mark.parametrize("features", [("gap", "v", "gi"), MEASUREMENTS])
def test_windows_have_one_column_per_feature(features):
    w = cut_windows(ramp(), TRAIN, TEST, WindowSpec(10, 5, features))
    assert w.x_train.shape == (146, 10, len(features)) and w.x_stream.shape[1:] == (10, len(features))
