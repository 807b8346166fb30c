"""The agent's stream handling: ring buffer, dedupe, late readings, absent minutes, nulls, resets, bad payloads."""

from __future__ import annotations

import numpy as np
import pytest

from device.contract import MEASUREMENTS
from device.forecasting.ringbuffer import RingBuffer
from device.forecasting.stream import MeterStream, Outcome
from device.readings import Reading, Rejected, format_minute, parse_minute
from device.sources.reader import parse_reading

GAP = MEASUREMENTS.index("gap")


def row(gap: float) -> np.ndarray:
    values = np.arange(len(MEASUREMENTS), dtype=np.float64)
    values[GAP] = gap
    return values


def test_ring_buffer_keeps_the_newest_rows_in_order_without_reallocating():
    ring = RingBuffer(3, 1)
    storage = ring._data
    for v in range(7):
        ring.append([v])
    assert ring.last(3)[:, 0].tolist() == [4, 5, 6]
    assert ring.ago(0)[0] == 6 and ring.ago(2)[0] == 4
    assert ring._data is storage


def test_ring_buffer_refuses_more_rows_than_it_holds():
    ring = RingBuffer(4, 1)
    ring.append([1.0])
    with pytest.raises(IndexError):
        ring.last(2)


def test_a_second_reading_for_the_same_minute_is_a_duplicate():
    stream = MeterStream(30, max_gap_minutes=15)
    assert stream.accept(100, row(1.0)).outcome is Outcome.ACCEPTED
    assert stream.accept(101, row(2.0)).outcome is Outcome.ACCEPTED
    assert stream.accept(100, row(9.0)).outcome is Outcome.DUPLICATE
    assert stream.accept(101, row(9.0)).outcome is Outcome.DUPLICATE


def test_a_late_reading_for_a_filled_minute_replaces_it_and_the_minutes_filled_from_the_same_value():
    stream = MeterStream(30, max_gap_minutes=15)
    stream.accept(100, row(1.0))
    stream.accept(103, row(4.0))
    update = stream.accept(101, row(2.0))
    assert update.outcome is Outcome.REFILLED
    assert update.minutes.tolist() == [101, 102]
    assert update.rows[:, GAP].tolist() == [2.0, 2.0] and update.replaced[:, GAP].tolist() == [1.0, 1.0]
    assert update.filled.tolist() == [False, True]
    assert stream.last_minute == 103 and stream.rows_since_reset == 4
    assert stream.accept(101, row(2.0)).outcome is Outcome.DUPLICATE


def test_a_late_reading_past_the_dedupe_horizon_is_late_and_changes_nothing():
    stream = MeterStream(3, max_gap_minutes=15)
    stream.accept(100, row(1.0))
    stream.accept(102, row(3.0))
    stream.accept(103, row(4.0))
    stream.accept(104, row(5.0))
    assert stream.accept(101, row(2.0)).outcome is Outcome.LATE


def test_absent_minutes_are_forward_filled_and_marked():
    stream = MeterStream(30, max_gap_minutes=15)
    stream.accept(100, row(1.0))
    update = stream.accept(103, row(4.0))
    assert update.minutes.tolist() == [101, 102, 103]
    assert update.rows[:, GAP].tolist() == [1.0, 1.0, 4.0]
    assert update.filled.tolist() == [True, True, False]


def test_a_null_value_takes_the_last_known_value():
    stream = MeterStream(30, max_gap_minutes=15)
    stream.accept(100, row(1.5))
    update = stream.accept(101, row(np.nan))
    assert update.nulls == 1
    assert update.rows[-1, GAP] == 1.5
    assert update.filled.tolist() == [True]


def test_a_null_with_nothing_to_fill_from_is_refused():
    stream = MeterStream(30, max_gap_minutes=15)
    assert stream.accept(100, row(np.nan)).outcome is Outcome.UNFILLABLE
    assert stream.last_minute is None


def test_a_gap_longer_than_the_limit_resets_the_history():
    stream = MeterStream(30, max_gap_minutes=5)
    stream.accept(100, row(1.0))
    stream.accept(101, row(1.0))
    update = stream.accept(108, row(2.0))
    assert update.reset
    assert update.minutes.tolist() == [108]
    assert stream.rows_since_reset == 1


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("meter/m1/reading", b"{not json", "not_json"),
        ("meter/m1/reading", b"\xff\xfe\x00", "not_utf8"),
        ("meter/m1/reading", b"[1, 2]", "not_an_object"),
        ("meter/m1/reading", b'{"ts": "yesterday", "gap": 1}', "bad_ts"),
        ("meter/m1/reading", b'{"gap": 1}', "bad_ts"),
        ("meter/m1/reading", b'{"ts": "2007-04-22T00:00:00", "gap": "1.0"}', "bad_value"),
        ("meter/m1/reading", b'{"ts": "2007-04-22T00:00:00", "gap": true}', "bad_value"),
        ("meter/m1/reading", b'{"ts": "2007-04-22T00:00:00", "gap": Infinity}', "bad_value"),
        ("meter/m1/reading", b'{"ts": "2007-04-22T00:00:00", "gap": 1}' + b" " * 5000, "too_large"),
        ("meter/m1/other", b'{"ts": "2007-04-22T00:00:00", "gap": 1}', "bad_topic"),
        ("meter/a+b/reading", b'{"ts": "2007-04-22T00:00:00", "gap": 1}', "bad_meter_id"),
    ],
)
def test_bad_payloads_are_rejected_with_their_reason(topic, payload, reason):
    result = parse_reading(topic, payload, "meter", max_bytes=4096)
    assert isinstance(result, Rejected)
    assert result.reason == reason


def test_a_good_payload_becomes_a_reading_with_nan_for_null_and_absent_values():
    result = parse_reading("meter/m1/reading", b'{"ts": "2007-04-22T00:01:00", "gap": 0.5, "v": null}', "meter", 4096)
    assert isinstance(result, Reading)
    assert result.meter == "m1" and result.ts == "2007-04-22T00:01:00"
    assert result.values[GAP] == 0.5
    assert np.isnan(result.values[MEASUREMENTS.index("v")]) and np.isnan(result.values[MEASUREMENTS.index("sm3")])


def test_timestamps_round_trip_through_whole_minutes():
    minute = parse_minute("2007-04-22T00:01:00")
    assert minute == int(np.datetime64("2007-04-22T00:01", "m").astype(np.int64))
    assert format_minute(minute) == "2007-04-22T00:01:00"


def test_a_held_minute_counts_as_filled_not_as_a_measurement():
    """A meter slower than a minute: the resampler holds its value for the minutes between (``held``)."""
    stream = MeterStream(30, max_gap_minutes=15)
    stream.accept(100, row(1.0))
    update = stream.accept(101, row(1.0), held=True)
    assert update.outcome is Outcome.ACCEPTED and update.filled.tolist() == [True]
    assert stream.filled_recently(1) and not stream.filled_recently(0)
    assert stream.accept(101, row(2.0)).outcome is Outcome.DUPLICATE  # the minute is taken, as any other
