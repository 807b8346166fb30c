"""Chronological splits: the notebook's contiguous subset, the 80/20 cut, the paper's date cut."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from device.contract import FillPolicy
from train.data import (
    SplitSpec,
    contiguous_subset,
    held_out_start,
    load_measurements,
    load_split,
    train_test_by_date,
    train_test_by_fraction,
)


def test_subset_is_one_percent_of_the_full_file():
    subset = contiguous_subset(2_075_259, 0.01, seed=0)
    assert subset.stop - subset.start == 20_753
    assert subset.start >= 0 and subset.stop <= 2_075_259


def test_subset_of_a_small_file_keeps_at_least_20000_rows():
    subset = contiguous_subset(20_160, 0.01, seed=0)
    assert subset.stop - subset.start == 20_000 and subset.stop <= 20_160


def test_subset_start_depends_only_on_the_seed():
    assert contiguous_subset(1_000_000, seed=3) == contiguous_subset(1_000_000, seed=3)
    assert contiguous_subset(1_000_000, seed=3) != contiguous_subset(1_000_000, seed=4)


def test_fraction_split_puts_the_first_80_percent_in_training():
    assert train_test_by_fraction(20_000, 0.8) == (slice(0, 16_000), slice(16_000, 20_000))


def test_date_split_tests_from_midnight_of_the_cut_day():
    minutes = np.datetime64("2009-12-15T23:58", "m").astype(np.int64) + np.arange(5)
    train, test = train_test_by_date(minutes, "2009-12-16")
    assert (train, test) == (slice(0, 2), slice(2, 5))


def test_date_split_refuses_a_cut_outside_the_data():
    minutes = np.datetime64("2007-04-22T00:00", "m").astype(np.int64) + np.arange(100)
    with pytest.raises(ValueError, match="empty part"):
        train_test_by_date(minutes, "2009-12-16")


def test_held_out_start_is_where_the_default_training_stops():
    subset = contiguous_subset(20_160)
    assert held_out_start(20_160) == subset.start + 16_000


def test_a_split_spec_survives_its_json_round_trip():
    spec = SplitSpec(Path("data/x.txt"), protocol="paper", resample="1h", fill_policy=FillPolicy.DROP, seed=3)
    assert SplitSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec


def test_the_notebook_split_tests_from_the_row_the_replay_starts_at(bundled_data):
    split = load_split(SplitSpec(bundled_data))
    loaded = load_measurements(bundled_data)
    first_test_minute = split.series.minutes[split.test.start]
    assert first_test_minute == loaded.minutes[held_out_start(len(loaded))]
    assert (split.train.stop, split.test.stop - split.test.start) == (16_000, 4_000)


def test_the_fraction_split_trains_on_the_first_80_percent_of_the_whole_file(bundled_data):
    split = load_split(SplitSpec(bundled_data, protocol="fraction"))
    assert (len(split.series), split.train.stop, split.test.start) == (20_160, 16_128, 16_128)
