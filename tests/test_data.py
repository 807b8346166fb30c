"""The loader on its tricky parts (``?``, CRLF, unpadded d/m/yyyy dates, zip, the Datetime CSV, absent minutes),
filling, and resampling."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from device.contract import FillPolicy
from train.data import load_measurements, resample

HEADER = (
    "Date;Time;Global_active_power;Global_reactive_power;Voltage;Global_intensity;Sub_metering_1;"
    "Sub_metering_2;Sub_metering_3"
)
ROWS = [
    "1/2/2007;23:58:00;1.000;0.100;240.000;4.000;0.000;1.000;17.000",
    "1/2/2007;23:59:00;?;?;?;?;?;?;",
    "2/2/2007;00:00:00;3.000;0.300;241.000;12.000;0.000;2.000;18.000",
    # 00:01 is absent from the file altogether
    "2/2/2007;00:02:00;5.000;0.500;242.000;20.000;1.000;0.000;0.000",
]


def minute(iso: str) -> int:
    return int(np.datetime64(iso, "m").astype(np.int64))


@pytest.fixture
def raw_txt(tmp_path):
    path = tmp_path / "household_power_consumption.txt"
    path.write_bytes(("\r\n".join([HEADER, *ROWS]) + "\r\n").encode())
    return path


def test_unpadded_dates_are_day_first(raw_txt):
    m = load_measurements(raw_txt)
    assert m.minutes[0] == minute("2007-02-01T23:58")
    assert m.minutes[2] == minute("2007-02-02T00:00")


def test_crlf_does_not_leak_into_the_last_column(raw_txt):
    assert load_measurements(raw_txt).values["sm3"][0] == 17.0


def test_question_marks_become_nan_and_missing_rows(raw_txt):
    m = load_measurements(raw_txt)
    assert np.isnan(m.values["gap"][1]) and np.isnan(m.values["sm3"][1])
    assert m.values["gap"][[0, 2]].tolist() == [1.0, 3.0]


def test_absent_minutes_become_missing_rows_on_a_regular_grid(raw_txt):
    m = load_measurements(raw_txt)
    assert np.diff(m.minutes).tolist() == [1, 1, 1, 1]
    assert m.missing.tolist() == [False, True, False, True, False]
    assert (m.missing_rows, m.absent_minutes) == (2, 1)


def test_the_zip_holding_the_txt_loads_the_same(raw_txt, tmp_path):
    archive = tmp_path / "household_power_consumption.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(raw_txt, raw_txt.name)
    from_zip, from_txt = load_measurements(archive), load_measurements(raw_txt)
    np.testing.assert_array_equal(from_zip.minutes, from_txt.minutes)
    np.testing.assert_array_equal(from_zip.values["gi"], from_txt.values["gi"])


def test_the_notebooks_datetime_csv_loads_the_same(raw_txt, tmp_path):
    csv = tmp_path / "cleaned.csv"
    csv.write_text(
        "Datetime,Global_active_power,Global_reactive_power,Voltage,Global_intensity,Sub_metering_1,"
        "Sub_metering_2,Sub_metering_3\n"
        "2007-02-01 23:58:00,1.0,0.1,240.0,4.0,0.0,1.0,17.0\n"
        "2007-02-02 00:00:00,3.0,0.3,241.0,12.0,0.0,2.0,18.0\n"
    )
    m = load_measurements(csv)
    assert m.minutes.tolist() == [minute("2007-02-01T23:58") + k for k in range(3)]
    assert m.missing.tolist() == [False, True, False]
    assert m.values["v"][2] == 241.0


def test_fill_forward_fills_gaps_and_reports_them(raw_txt):
    filled, report = load_measurements(raw_txt).fill(FillPolicy.FORWARD_FILL)
    assert filled.values["gap"].tolist() == [1.0, 1.0, 3.0, 3.0, 5.0]
    assert filled.missing.tolist() == [False, True, False, True, False]  # kept for the drop policy
    assert (report.rows, report.missing_rows, report.absent_minutes, report.leading_dropped) == (5, 2, 1, 0)
    assert "2 of 5 rows missing" in report.describe()


def test_fill_drops_leading_rows_nothing_can_fill_from(tmp_path):
    path = tmp_path / "leading.txt"
    path.write_text("\n".join([HEADER, "1/2/2007;23:58:00;?;?;?;?;?;?;", ROWS[0].replace("23:58", "23:59")]))
    filled, report = load_measurements(path).fill()
    assert len(filled) == 1 and report.leading_dropped == 1
    assert filled.minutes[0] == minute("2007-02-01T23:59")


def test_hourly_resample_is_the_mean_of_the_readings_present(tmp_path):
    path = tmp_path / "hours.txt"
    lines = [HEADER] + [f"1/2/2007;10:{m:02d}:00;{m}.000;0;240;1;0;0;0" for m in range(60)]
    lines += ["1/2/2007;11:00:00;?;?;?;?;?;?;", "1/2/2007;11:01:00;7.000;0;240;1;0;0;0"]
    path.write_text("\n".join(lines))
    hourly = resample(load_measurements(path), "1h")
    assert hourly.minutes.tolist() == [minute("2007-02-01T10:00"), minute("2007-02-01T11:00")]
    assert hourly.values["gap"].tolist() == [29.5, 7.0]
    assert hourly.missing.tolist() == [False, False] and hourly.step_minutes == 60


def test_weekly_blocks_start_on_monday(bundled_data):
    weekly = resample(load_measurements(bundled_data), "1W")
    # The slice runs from Sunday 22/4/2007 (in the week of Monday 16/4) to Saturday 5/5/2007.
    starts = weekly.minutes.astype("datetime64[m]").astype("datetime64[D]")
    assert [str(d) for d in starts] == ["2007-04-16", "2007-04-23", "2007-04-30"]


def test_bundled_slice_has_the_april_2007_outage(bundled_data):
    m = load_measurements(bundled_data)
    assert len(m) == 20_160 and m.missing_rows == 3_723
    gap = m.minutes[m.missing]
    assert (gap[0], gap[-1]) == (minute("2007-04-28T00:21"), minute("2007-04-30T14:23"))


@pytest.mark.fulldata
@pytest.mark.slow  # parses 2,075,259 rows: seconds, not for make test-fast
def test_the_full_file_loads_every_minute_with_its_missing_rows(full_data):
    m = load_measurements(full_data)
    assert (len(m), m.missing_rows, m.absent_minutes) == (2_075_259, 25_979, 0)
