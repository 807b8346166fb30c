"""Reading a recording back as training data: UTC grid, household clock, filled minutes as missing, cut lines and
corrections, meters without sub-meters, and the recent-days split."""

from __future__ import annotations

import json

import numpy as np
import pytest

from device.contract import MEASUREMENTS
from device.recording_format import HEADER, METER_FILE, day_file, format_line
from train.data import SplitSpec, fingerprint, load_measurements, load_split
from train.recording import read_recording

PARIS_WINTER = 60  # minutes ahead of UTC


def write_day(root, meter, day, lines):
    path = day_file(root, meter, day)
    path.parent.mkdir(parents=True, exist_ok=True)
    (path.parent / METER_FILE).write_text(json.dumps({"meter": meter, "timezone": "Europe/Paris"}))
    path.write_text(HEADER + "".join(lines))
    return path


def minute_of(text):
    return int(np.datetime64(text, "m").astype(np.int64))


def test_a_recording_reads_back_on_utc_minutes_with_the_household_clock_for_the_calendar(tmp_path):
    start = minute_of("2026-01-05T23:58")
    rows = [[1.0 + i, 0.1, 230.0, 4.0, 0.0, 1.0, 17.0] for i in range(4)]
    write_day(
        tmp_path,
        "house/main",
        "2026-01-05",
        [format_line(start + i, start + i + PARIS_WINTER, rows[i], False) for i in range(2)],
    )
    write_day(
        tmp_path,
        "house/main",
        "2026-01-06",
        [format_line(start + i, start + i + PARIS_WINTER, rows[i], False) for i in range(2, 4)],
    )
    series = load_measurements(tmp_path)
    assert series.minutes.tolist() == [start + i for i in range(4)]
    assert (series.clock_minutes - series.minutes).tolist() == [PARIS_WINTER] * 4
    assert series.values["gap"].tolist() == [1.0, 2.0, 3.0, 4.0]
    assert read_recording(tmp_path).meter == "house/main"


def test_filled_and_absent_minutes_are_missing_rows_and_a_later_line_corrects_an_earlier_one(tmp_path):
    start = minute_of("2026-01-05T10:00")
    row = [2.0, 0.1, 230.0, 4.0, 0.0, 1.0, 17.0]
    lines = [
        format_line(start, start + 60, row, False),
        format_line(start + 1, start + 61, row, True),  # filled by the agent
        format_line(start + 2, start + 62, [3.0, *row[1:]], True),
        format_line(start + 2, start + 62, [5.0, *row[1:]], False),  # its real value came late
        format_line(start + 4, start + 64, row, False),
    ]  # start + 3 is absent
    write_day(tmp_path, "m1", "2026-01-05", lines)
    series = load_measurements(tmp_path / "m1")
    assert series.missing.tolist() == [False, True, False, True, False]
    assert series.values["gap"][2] == 5.0 and np.isnan(series.values["gap"][1])
    assert series.clock_minutes.tolist() == [start + 60 + i for i in range(5)]  # the absent minute keeps the offset
    recorded = read_recording(tmp_path)
    assert (recorded.corrections, recorded.bad_lines) == (1, 0)


def test_a_line_cut_off_by_a_crash_is_dropped_and_counted_and_the_rest_is_read(tmp_path, caplog):
    start = minute_of("2026-01-05T10:00")
    row = [2.0, 0.1, 230.0, 4.0, 0.0, 1.0, 17.0]
    whole = [format_line(start + i, start + i, row, False) for i in range(3)]
    path = write_day(tmp_path, "m1", "2026-01-05", whole[:2] + [whole[2][:25]])  # SIGKILL in the middle of a line
    recorded = read_recording(path)
    assert (len(recorded.minutes), recorded.bad_lines) == (2, 1)
    assert "1 incomplete or unreadable lines dropped" in caplog.text and str(path) in caplog.text


def test_a_meter_without_sub_meters_fills_only_what_it_has(tmp_path):
    start = minute_of("2026-01-05T10:00")
    nan = float("nan")
    lines = [format_line(start + i, start + i, [1.5, nan, 230.0, nan, nan, nan, nan], False) for i in range(3)]
    write_day(tmp_path, "plug", "2026-01-05", lines)
    filled, report = load_measurements(tmp_path).fill()
    assert len(filled) == 3 and report.leading_dropped == 0
    assert filled.available == ("gap", "v")
    assert set(MEASUREMENTS) - set(filled.available) == {"grp", "gi", "sm1", "sm2", "sm3"}


def test_a_root_with_several_meters_asks_for_one(tmp_path):
    for meter in ("a", "b"):
        write_day(tmp_path, meter, "2026-01-05", [format_line(0, 0, [1.0] * 7, False)])
    with pytest.raises(ValueError, match="holds 2 meters"):
        load_measurements(tmp_path)


def test_the_recent_split_holds_out_the_last_days(bundled_data):
    split = load_split(SplitSpec(bundled_data, protocol="recent", test_days=7))
    assert split.test.stop - split.test.start == 7 * 1440
    assert split.train == slice(0, len(split.series) - 7 * 1440)
    with pytest.raises(ValueError, match="leaves no rows to train on"):
        load_split(SplitSpec(bundled_data, protocol="recent", test_days=14))


def test_a_folder_fingerprint_changes_with_any_file(tmp_path):
    write_day(tmp_path, "m1", "2026-01-05", [format_line(0, 0, [1.0] * 7, False)])
    before = fingerprint(tmp_path)
    write_day(tmp_path, "m1", "2026-01-06", [format_line(1440, 1440, [1.0] * 7, False)])
    assert fingerprint(tmp_path) != before
