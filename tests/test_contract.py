"""The windowing contract: shapes, indices, padding, fill policy, scaling (the notebook's asserts and more)."""

import numpy as np
import pytest

from device.contract import (
    FillPolicy,
    MinMaxScaling,
    WindowSpec,
    calendar_features,
    forward_fill,
    make_windows,
    streaming_windows,
    window_rows,
)


def test_window_of_30_predicts_the_row_34_after_its_start():
    series = np.arange(100, dtype=float)
    x, y = make_windows(series[:, None], series, WindowSpec(seq_len=30, horizon=5))
    assert x.shape == (66, 30, 1) and y.shape == (66,)
    assert x[0, 0, 0] == 0 and x[0, -1, 0] == 29 and y[0] == 34
    assert x[-1, -1, 0] == 94 and y[-1] == 99


def test_forward_fill_repeats_last_value_and_leaves_leading_gaps():
    filled = forward_fill(np.array([np.nan, 1.0, np.nan, np.nan, 3.0, np.nan]))
    assert np.isnan(filled[0])
    assert filled[1:].tolist() == [1.0, 1.0, 1.0, 3.0, 3.0]


def test_drop_policy_removes_every_window_that_touches_a_gap():
    series = np.arange(50, dtype=float)
    missing = np.zeros(50, bool)
    missing[40] = True
    spec = WindowSpec(seq_len=5, horizon=1, fill_policy=FillPolicy.DROP)
    x, y = make_windows(series[:, None], series, spec, missing)
    assert 40 not in x[..., 0] and 40 not in y
    assert len(y) == 45 - 6  # 45 windows, 6 of them touch row 40 (5 as input, 1 as target)


def test_streaming_starts_after_two_readings_with_zeros_in_front():
    series = np.arange(1, 21, dtype=float)
    x, y, ends = streaming_windows(series[:, None], series, WindowSpec(seq_len=5, horizon=2))
    assert ends[0] == 1
    assert x[0, :, 0].tolist() == [0, 0, 0, 1, 2] and y[0] == 4
    assert x[10, :, 0].tolist() == [8, 9, 10, 11, 12]


def test_a_window_continues_from_the_rows_held_before_the_new_ones():
    earlier = np.array([[1.0], [2.0]])
    x = window_rows(np.array([[3.0], [4.0]]), np.array([0, 1]), 4, earlier=earlier)
    assert x[:, :, 0].tolist() == [[0, 1, 2, 3], [1, 2, 3, 4]]


def test_drop_policy_keeps_streaming_windows_clear_of_the_gap_and_its_target():
    series = np.arange(1, 21, dtype=float)
    missing = np.zeros(20, bool)
    missing[8] = True
    spec = WindowSpec(seq_len=3, horizon=2, fill_policy=FillPolicy.DROP)
    _, _, ends = streaming_windows(series[:, None], series, spec, missing)
    assert ends.tolist() == [1, 2, 3, 4, 5, 7, 11, 12, 13, 14, 15, 16, 17]  # 6 targets row 8; 8, 9, 10 read it


def test_scaling_fitted_on_train_maps_its_range_to_unit_interval():
    train = np.array([[1.0], [3.0], [5.0]])
    scaling = MinMaxScaling.fit(train, train[:, 0])
    assert scaling.transform(train)[:, 0].tolist() == [0.0, 0.5, 1.0]
    assert scaling.inverse_target(scaling.transform_target(4.2)) == pytest.approx(4.2)


def test_calendar_features_know_midnight_and_monday():
    monday_midnight = np.datetime64("2007-04-23T00:00", "m").astype(np.int64)
    hour_sin, hour_cos, dow_sin, dow_cos = calendar_features(np.array([monday_midnight]))[0]
    assert (hour_sin, hour_cos) == pytest.approx((0.0, 1.0))
    assert (dow_sin, dow_cos) == pytest.approx((0.0, 1.0))
