"""Your own house: ``python -m train --data RECORDING`` refuses too short a history, retrains the shipped
microcontroller architecture on the inputs the recording has, and puts it side by side with the shipped model on the
held-out days, int8 both; ``python -m convert.quantize --mcu-model … --add --mcu-name …`` ships it beside the shipped
one, the manifest saying which recording it came from (bundled slice written as a recording; one epoch: fast, not
accurate)."""

from __future__ import annotations

import contextlib
import io
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from convert.config import QuantizeConfig
from convert.house import shipped_candidates, shipped_row
from convert.quantize import WouldReplaceModel, quantize
from device.contract import CALENDAR_FEATURES, MEASUREMENTS, TARGET
from device.models.manifest import load_manifest, sha256_of, verify_file
from device.recording_format import HEADER, METER_FILE, day_file, format_line, meter_folder
from train.__main__ import main as train_main
from train.data import fingerprint, load_measurements
from train.mcu_models import SHIPPED, candidate
from train.windows import cut_windows

REPO = Path(__file__).resolve().parents[1]
COMMITTED = REPO / "firmware_assets"
BUNDLED = REPO / "data" / "household_power_14d.txt"
METER = "house/main"
TIMEZONE = "Europe/Paris"  # the UCI household's clock; April-May 2007 is CEST, two hours ahead of UTC
#: Small and fast: one epoch, few calibration and hand-over windows.
QUICK = ("--house-epochs", "1", "--test-days", "3", "--calibration-windows", "200", "--handover-test-windows", "300")
HELD_OUT_WINDOWS = 3 * 1440 - 30 - 5 + 1


def write_recording(root: Path, days: int | None = None, measurements: tuple[str, ...] = MEASUREMENTS) -> Path:
    """The bundled slice as the agent records it: its wall-clock minutes on the household's clock, one file per meter
    and UTC day, ``?`` minutes as filled ones, only ``measurements`` sent; returns the meter's folder."""
    series = load_measurements(BUNDLED)
    n = len(series) if days is None else days * 1440
    wall = series.minutes[:n]
    utc = (
        pd.DatetimeIndex(wall.astype("datetime64[m]"))
        .tz_localize(TIMEZONE)
        .tz_convert("UTC")
        .tz_localize(None)
        .to_numpy("datetime64[m]")
        .astype(np.int64)
    )
    rows = np.stack([series.values[m][:n] if m in measurements else np.full(n, np.nan) for m in MEASUREMENTS], 1)
    by_day: dict[str, list[str]] = {}
    for u, w, row, filled in zip(utc, wall, rows, series.missing[:n]):
        by_day.setdefault(str(np.datetime64(int(u), "m"))[:10], []).append(format_line(int(u), int(w), row, filled))
    for day, lines in by_day.items():
        path = day_file(root, METER, day)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(HEADER + "".join(lines))
    folder = Path(root) / meter_folder(METER)
    (folder / METER_FILE).write_text(json.dumps({"meter": METER, "timezone": TIMEZONE}))
    return folder


@pytest.fixture(scope="module")
def house(tmp_path_factory):
    """(recording, --out, what the command printed) of ``python -m train --data RECORDING`` on the whole slice."""
    root = tmp_path_factory.mktemp("house")
    recording, out = write_recording(root / "recording"), root / "out"
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        train_main(["--data", str(recording), "--out", str(out), *QUICK])
    return recording, out, printed.getvalue()


@pytest.fixture(scope="module")
def shipped(house, tmp_path_factory):
    """(assets before, assets after) ``convert.quantize --mcu-model … --add --mcu-name mcu_lstm_house`` on a copy of
    the committed assets."""
    _, out, _ = house
    root = tmp_path_factory.mktemp("assets")
    before, after = root / "before", root / "after"
    shutil.copytree(COMMITTED, before)
    shutil.copytree(COMMITTED, after)
    quantize(
        QuantizeConfig(
            out=after, mcu_model=out / "models" / f"house_{SHIPPED}", add=True, mcu_name="mcu_lstm_house", tflm=False
        )
    )
    return before, after


def side_by_side(out: Path) -> dict[str, dict]:
    return {r["name"]: r for r in json.loads((out / "report.json").read_text())["side_by_side"]["rows"]}


@pytest.mark.slow
def test_a_recording_retrains_the_shipped_architecture_and_hands_it_over_with_its_least_squares(house):
    recording, out, _ = house
    meta = json.loads((out / "models" / f"house_{SHIPPED}.json").read_text())
    shipped = candidate(SHIPPED)
    assert (meta["units"], meta["residual"], tuple(meta["window"]["features"])) == (
        shipped.units,
        shipped.residual,
        shipped.features,
    )
    assert (out / "models" / f"house_{SHIPPED}.keras").is_file()
    assert meta["split"]["protocol"] == "recent" and meta["split"]["test_days"] == 3
    copy = Path(meta["split"]["data"])  # trained from a copy: the agent keeps appending to the recording
    assert copy.parent == out / "recording" and fingerprint(copy) == fingerprint(recording)
    twin = json.loads((out / "models" / "linreg_gap_hour_dow_sm.json").read_text())
    assert twin["window"] == meta["window"] and twin["scaling"] == meta["scaling"]


@pytest.mark.slow
def test_the_report_puts_the_shipped_and_the_retrained_model_side_by_side_int8_both(house):
    _, out, printed = house
    rows = side_by_side(out)
    assert set(rows) == {"persistence", "linreg_gap_hour_dow_sm", "mcu_lstm_int8", f"house_{SHIPPED}"}
    assert rows["mcu_lstm_int8"]["what"] == "shipped, int8 (LiteRT)"
    assert rows[f"house_{SHIPPED}"]["what"] == "retrained, int8 (LiteRT)"
    for row in rows.values():
        assert row["n"] == HELD_OUT_WINDOWS  # every row forecasts the same minutes
        assert 0 < row["mse"] < 10 and row["rmse"] == pytest.approx(math.sqrt(row["mse"])) and row["mae"] > 0
    document = json.loads((out / "report.json").read_text())
    assert document["side_by_side"]["winner"] == min(rows, key=lambda n: rows[n]["mse"])
    markdown = (out / "report.md").read_text()
    assert "| **" in markdown and f"--mcu-model {out}/models/house_{SHIPPED} --add --mcu-name" in markdown
    assert "| mcu_lstm_int8 | shipped, int8 (LiteRT) |" in printed or "| **mcu_lstm_int8** |" in printed
    assert document["recording"]["meter"] == METER and document["recording"]["days"] == 14.0


def test_too_short_a_history_is_refused_saying_how_much_there_is_and_how_much_is_needed(tmp_path, capsys):
    recording = write_recording(tmp_path / "recording", days=10)
    with pytest.raises(SystemExit) as exit_info:
        train_main(["--data", str(recording), "--out", str(tmp_path / "out")])
    assert exit_info.value.code == 1
    message = capsys.readouterr().err
    assert re.search(
        rf"the recording of meter {METER} \(.*\) holds 10\.0 days, \d+\.\d of them real minutes; "
        r"retraining needs 14 days and 7 days of real minutes: keep the agent recording for ~\d+ more "
        r"days",
        message,
    ), message
    assert "Traceback" not in message and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_a_recording_without_sub_meters_trains_on_the_reading_and_the_calendar(tmp_path):
    from train.config import HouseOptions, TrainConfig
    from train.house import retrain

    recording = write_recording(tmp_path / "recording", measurements=(TARGET,))  # a Tasmota plug: power only
    run = retrain(
        TrainConfig(
            data=recording,
            out_dir=tmp_path / "out",
            calibration_windows=200,
            handover_test_windows=300,
            house=HouseOptions(house_epochs=1),
        )
    )
    assert run.member.features == (TARGET, *CALENDAR_FEATURES)
    meta = json.loads((run.models_dir / f"{run.member.name}.json").read_text())
    assert tuple(meta["window"]["features"]) == (TARGET, *CALENDAR_FEATURES)
    assert (run.models_dir / "linreg_gap_hour_dow.json").is_file()
    windows = cut_windows(run.split.series, run.split.train, run.split.test, run.member.window)
    row, notes = shipped_row(COMMITTED, "mcu_lstm_int8", run.split, windows)  # what the report compares it with
    assert (row.name, row.what) == ("lstm_int8", "shipped, int8 (LiteRT); stands in for mcu_lstm_int8")
    assert row.metrics["n"] == len(windows.y_test) and 0 < row.metrics["mse"] < 10
    assert "the recording lacks sm1, sm2, sm3" in notes[0]


def test_without_the_shipped_models_inputs_the_best_shipped_int8_model_on_its_inputs_stands_in():
    names, notes = shipped_candidates(COMMITTED, "mcu_lstm_int8", (TARGET,), 30, 5)
    assert names == ["lstm_int8"]  # the only shipped int8 model on the reading alone
    assert "lacks sm1, sm2, sm3" in notes[0] and "stands in" in notes[0]
    assert shipped_candidates(COMMITTED, "mcu_lstm_int8", MEASUREMENTS, 30, 5) == (["mcu_lstm_int8"], [])


@pytest.mark.slow
def test_the_retrained_model_ships_beside_the_shipped_one_as_exactly_two_more_models(shipped):
    before, after = shipped
    old, new = load_manifest(before), load_manifest(after)
    assert set(new.models) - set(old.models) == {"mcu_lstm_house", "mcu_lstm_house_linreg"}
    assert {n: e.to_dict() for n, e in new.models.items() if n in old.models} == {
        n: e.to_dict() for n, e in old.models.items()
    }
    for name, described in old.files.items():
        assert new.files[name] == described and (after / name).read_bytes() == (before / name).read_bytes()
    for name, described in new.files.items():
        verify_file(after, new, name)
        assert described == {"bytes": (after / name).stat().st_size, "sha256": sha256_of(after / name)}
    assert {"mcu_lstm_house.tflite", "mcu_lstm_house_linreg.json", "mcu_lstm_house_wc.c"} <= set(new.files)


@pytest.mark.slow
def test_the_manifest_says_which_recording_the_model_came_from_and_its_error_on_the_held_out_days(house, shipped):
    recording, out, _ = house
    entry = load_manifest(shipped[1]).models["mcu_lstm_house"]
    source = entry.metrics["source"]
    assert source["copied_from"] == str(recording) and source["meter"] == METER
    assert source["fingerprint"] == fingerprint(recording)  # the copy trained on holds the very same files
    assert (source["first_minute_utc"], source["last_minute_utc"]) == ("2007-04-21T22:00Z", "2007-05-05T21:59Z")
    assert source["days"] == 14.0 and 0 < source["real_minutes"] < 14 * 1440
    full = entry.metrics["full_test"]
    assert full["windows"] == HELD_OUT_WINDOWS
    assert full["int8"]["mse"] == pytest.approx(side_by_side(out)[f"house_{SHIPPED}"]["mse"], rel=1e-9)
    twin = load_manifest(shipped[1]).models["mcu_lstm_house_linreg"]
    assert twin.metrics["source"]["trained_as"] == "linreg_gap_hour_dow_sm"


@pytest.mark.slow
def test_the_agent_loads_the_new_model_from_the_manifest(shipped):
    from device.models.load import load_models

    loaded = {m.name: m for m in load_models(shipped[1], ())}  # the agent's default: every model of the manifest
    assert {"mcu_lstm_house", "mcu_lstm_house_linreg", "mcu_lstm_int8"} <= set(loaded)
    house = loaded["mcu_lstm_house"]
    window = np.full((1, 30, house.entry.window.n_features), 0.5, np.float32)
    assert np.isfinite(house.predictor.predict(window, np.array([30]))).all()


def test_a_retrained_model_may_not_take_the_name_of_a_model_it_did_not_ship(tmp_path):
    assets = tmp_path / "assets"
    shutil.copytree(COMMITTED, assets)
    with pytest.raises(WouldReplaceModel, match="lstm_int8"):
        quantize(QuantizeConfig(out=assets, mcu_model=tmp_path / "absent", add=True, mcu_name="lstm_int8"))
    with pytest.raises(ValueError, match="lower-case"):
        QuantizeConfig(mcu_name="House Model")


def test_the_shipped_candidate_is_the_one_the_committed_mcu_model_was_trained_as():
    source = load_manifest(COMMITTED).models["mcu_lstm_int8"].metrics["source"]
    assert source["trained_as"] == SHIPPED
