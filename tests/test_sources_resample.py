"""The minute resampler: time-weighted means, closing on a later sample or the grace period, holding a slow source's
value (filled, warned once), and late samples."""

from __future__ import annotations

import json
import logging

import pytest

from device.sources.resample import Resampler

T0 = 1_795_000_020 - 1_795_000_020 % 60  # a whole minute


def add_all(resampler: Resampler, samples: list[tuple[float, float]], meter: str = "m") -> list:
    closed = []
    for t, kw in samples:
        closed += resampler.add("src", meter, t, kw, arrival_s=t)
    return closed


def test_a_sample_holds_until_the_next_so_the_mean_is_weighted_by_time():
    closed = add_all(Resampler(grace_s=0), [(T0, 1.0), (T0 + 45, 3.0), (T0 + 60, 0.0)])
    assert [(m.minute, m.kw, m.filled) for m in closed] == [(T0 // 60, 1.0 * 0.75 + 3.0 * 0.25, False)]


def test_a_1hz_stream_of_3600_samples_gives_60_minutes():
    resampler = Resampler(grace_s=5)
    closed = add_all(resampler, [(T0 + i, float(i % 60)) for i in range(3600)])
    closed += resampler.tick(now_s=T0 + 3600 + 5)  # the last minute closes once its grace has passed
    assert [m.minute - T0 // 60 for m in closed] == list(range(60))
    assert all(m.kw == pytest.approx(29.5) and not m.filled for m in closed)


def test_a_minute_waits_for_the_grace_period_so_a_slightly_late_sample_still_counts():
    resampler = Resampler(grace_s=5)
    assert add_all(resampler, [(T0, 1.0), (T0 + 62, 1.0)]) == []  # 2 s past the minute: still open
    (minute,) = add_all(resampler, [(T0 + 30, 3.0), (T0 + 66, 1.0)])  # the out-of-order sample is used
    assert minute.kw == pytest.approx(2.0)


def test_a_sample_for_a_closed_minute_is_late():
    resampler = Resampler(grace_s=5)
    add_all(resampler, [(T0, 1.0), (T0 + 70, 1.0)])
    assert resampler.add("src", "m", T0 + 30, 5.0, arrival_s=T0 + 71) is None


def test_a_source_slower_than_a_minute_holds_its_value_marked_filled_with_one_warning(caplog):
    caplog.set_level(logging.WARNING)
    closed = add_all(Resampler(grace_s=0), [(T0 + 300 * k, float(k + 1)) for k in range(3)], meter="plug1")
    assert [(m.minute - T0 // 60, m.kw, m.filled) for m in closed] == [
        (0, 1.0, False),
        (1, 1.0, True),
        (2, 1.0, True),
        (3, 1.0, True),
        (4, 1.0, True),
        (5, 2.0, False),
        (6, 2.0, True),
        (7, 2.0, True),
        (8, 2.0, True),
        (9, 2.0, True),
    ]
    warnings = [r.getMessage() for r in caplog.records if "slower than a minute" in r.getMessage()]
    assert len(warnings) == 1 and "plug1" in warnings[0] and "300 s" in warnings[0]


def test_a_value_older_than_the_hold_limit_is_not_held_the_minutes_after_it_stay_absent():
    closed = add_all(Resampler(grace_s=0, max_hold_minutes=15), [(T0, 1.0), (T0 + 3600, 2.0), (T0 + 3660, 2.0)])
    assert [m.minute - T0 // 60 for m in closed] == [0, *range(1, 16), 60]


def test_a_quiet_meter_is_closed_by_the_clock_through_its_own_clock_offset():
    resampler = Resampler(grace_s=5)
    resampler.add("src", "m", T0 + 10, 1.0, arrival_s=T0 + 10 + 3600)  # the meter's clock is an hour behind ours
    assert resampler.tick(now_s=T0 + 3600 + 64) == []
    assert [m.minute for m in resampler.tick(now_s=T0 + 3600 + 65)] == [T0 // 60]


def test_a_missing_value_is_left_out_of_the_mean():
    (minute,) = add_all(Resampler(grace_s=0), [(T0, 2.0), (T0 + 30, float("nan")), (T0 + 60, 0.0)])
    assert minute.kw == 2.0


def test_meters_are_resampled_independently():
    resampler = Resampler(grace_s=0)
    closed = add_all(resampler, [(T0, 1.0), (T0 + 60, 1.0)], meter="a")
    closed += add_all(resampler, [(T0, 4.0), (T0 + 60, 1.0)], meter="b")
    assert [(m.meter, m.kw) for m in closed] == [("a", 1.0), ("b", 4.0)]


def test_a_meter_too_quiet_to_hold_is_forgotten_and_a_new_sample_starts_it_afresh():
    resampler = Resampler(grace_s=0, max_hold_minutes=2)
    resampler.add("src", "m", T0, 1.0, arrival_s=T0)
    assert [m.minute - T0 // 60 for m in resampler.tick(now_s=T0 + 600)] == [0, 1, 2]  # held two minutes, then gone
    assert resampler.add("src", "m", T0 + 30, 5.0, arrival_s=T0 + 601) == ()  # not late: a fresh start


def test_past_max_meters_the_oldest_meter_is_dropped_and_counted_per_source():
    resampler = Resampler(grace_s=0, max_meters=2)
    for meter in ("a", "b", "c"):
        resampler.add("tasmota", meter, T0, 1.0, arrival_s=T0)
    assert resampler.evicted == {"tasmota": 1}
    assert [m.meter for m in resampler.add("tasmota", "b", T0 + 60, 1.0, arrival_s=T0 + 60)] == ["b"]  # kept


def restarted(resampler: Resampler, sources: set[str] = frozenset({"src"})) -> Resampler:
    """A new resampler that took over ``resampler``'s state through the state file's strict JSON."""
    successor = Resampler(resampler.grace_s, resampler.max_hold_s // 60, resampler.max_meters)
    successor.restore(json.loads(json.dumps(resampler.state(), allow_nan=False)), set(sources))
    return successor


def test_a_restored_resampler_closes_the_same_minutes_as_one_that_never_stopped():
    samples = [(T0 + 7 * i, float(i % 5) if i % 6 else float("nan")) for i in range(40)]  # missing values too
    for m in range(3):
        samples.append((T0 + 400 + 300 * m, 0.5 * m))  # then slower than a minute: held values
    never_stopped, first_life = Resampler(grace_s=5), Resampler(grace_s=5)
    expected = add_all(never_stopped, samples) + never_stopped.tick(now_s=T0 + 3600)
    cut = 18  # the first life ends at T0 + 119 s: minute 1 open with 9 samples, minute 0's last one holding into it
    closed = add_all(first_life, samples[:cut])
    second_life = restarted(first_life)
    closed += add_all(second_life, samples[cut:]) + second_life.tick(now_s=T0 + 3600)
    assert closed == expected and len(expected) > 15


def test_a_restored_meter_waits_for_its_next_sample_not_the_clock_since_the_broker_may_still_hold_its_samples():
    first_life = Resampler(grace_s=5)
    add_all(first_life, [(T0, 1.0), (T0 + 30, 3.0)])
    second_life = restarted(first_life)
    assert second_life.tick(now_s=T0 + 3600) == []  # an hour later by the clock: still open
    (minute,) = second_life.add("src", "m", T0 + 65, 1.0, arrival_s=T0 + 3600)  # a queued sample closes it
    assert (minute.minute, minute.kw, minute.filled) == (T0 // 60, 2.0, False)


def test_the_open_minutes_of_a_source_no_longer_configured_are_dropped_with_a_warning(caplog):
    first_life = Resampler(grace_s=5)
    add_all(first_life, [(T0, 1.0)], meter="gone")
    first_life.add("tasmota", "kept", T0, 1.0, arrival_s=T0)
    assert list(restarted(first_life, {"tasmota"}).state()) == ["kept"]
    assert "meter gone: its source src is not configured" in caplog.text
