"""Chronological splits only: a forecaster must never train on minutes that come after the ones it is tested on.

Two protocols:

- ``notebook``: a contiguous subset (1% of the rows, about 20.7k on the full file; see :func:`contiguous_subset` for
  small files), then the first 80% of it to train and the last 20% to test.
- ``paper`` (Le et al. 2019): train before 2009-12-16, test from that day on.
"""

from __future__ import annotations

import numpy as np

#: The notebook protocol's defaults, shared by :class:`train.config.TrainConfig` and :func:`held_out_start`.
SUBSET_FRACTION = 0.01
SUBSET_MIN_ROWS = 20_000
TRAIN_FRACTION = 0.8
PAPER_CUT_DATE = "2009-12-16"


def contiguous_subset(n_rows: int, fraction: float = SUBSET_FRACTION, seed: int = 0,
                      min_rows: int = SUBSET_MIN_ROWS) -> slice:
    """A contiguous block of ``max(fraction * n_rows, min(n_rows, min_rows))`` rows at a seeded random start.

    The floor keeps the notebook's ~20k-row scale on small files: 1% of the bundled 14-day slice would be 201 rows,
    too few to train anything, so there the subset is 20,000 of its 20,160 rows.
    """
    length = max(int(round(fraction * n_rows)), min(n_rows, min_rows))
    start = int(np.random.default_rng(seed).integers(0, n_rows - length + 1))
    return slice(start, start + length)


def train_test_by_fraction(n_rows: int, train_fraction: float = TRAIN_FRACTION) -> tuple[slice, slice]:
    """The first ``train_fraction`` of the rows to train, the rest to test."""
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    cut = int(n_rows * train_fraction)
    return slice(0, cut), slice(cut, n_rows)


def train_test_by_date(minutes: np.ndarray, cut_date: str = PAPER_CUT_DATE) -> tuple[slice, slice]:
    """Rows before ``cut_date`` (midnight) to train, rows from it on to test; ``minutes`` since the epoch, sorted."""
    cut_minute = np.datetime64(cut_date, "m").astype(np.int64)
    cut = int(np.searchsorted(minutes, cut_minute))
    if cut == 0 or cut == len(minutes):
        first, last = (np.datetime64(int(m), "m") for m in (minutes[0], minutes[-1]))
        raise ValueError(f"cut date {cut_date} leaves an empty part: the data run from {first} to {last}")
    return slice(0, cut), slice(cut, len(minutes))


def held_out_start(n_rows: int, fraction: float = SUBSET_FRACTION, seed: int = 0,
                   train_fraction: float = TRAIN_FRACTION) -> int:
    """First row that the default (notebook-protocol) training never saw: the start of its test part.

    Every row from here to the end of the file is unseen (the test part, then rows after the subset), so a replay
    starting here scores the models honestly.
    """
    subset = contiguous_subset(n_rows, fraction, seed)
    train, _ = train_test_by_fraction(subset.stop - subset.start, train_fraction)
    return subset.start + train.stop
