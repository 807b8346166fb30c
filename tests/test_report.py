"""The comparison report is a pure function of (metrics, predictions, manifest): checked on a synthetic run."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from device.contract import WindowSpec
from device.energy import DEVICE_CLASSES, M0PLUS, Budget, DeviceClass, EnergyFigures
from device.energy import M4F as MCU
from device.energy import PI4B as PI
from device.models.entry import FirmwareMeasurement
from device.models.families import family
from device.models.kinds import ModelKind
from device.models.manifest import Manifest
from simulator.recommend import Candidate, recommend
from simulator.report import ReportFiles, problems_banner, write_report


def figures(device: DeviceClass, uj: float, battery_days: float, metered: bool) -> dict:
    return EnergyFigures(
        device.profile, uj / 3, uj, uj * 1440e-6, 0.01, battery_days, "?", metered, not metered, "?"
    ).to_dict()


def model_metrics(mse: float, flash: int, uj_pi: float, uj_mcu: float, arena: int | None = None) -> dict:
    """One model's entry in the agent's metrics, with its energy schema (here the Pi's figure counts as metered)."""
    energy = {"pi4b": figures(PI, uj_pi, 0.1, metered=True), "m4f": figures(MCU, uj_mcu, 1e6 / uj_mcu, metered=False)}
    return {
        "predictions": 100,
        "scored": 95,
        "mse": mse,
        "rmse": mse**0.5,
        "mae": mse / 2,
        "mape": 30.0,
        "latency_us": {"p50": uj_pi, "p95": 2 * uj_pi, "p99": 3 * uj_pi, "max": 4 * uj_pi},
        "end_to_end_us": {"p50": 100.0, "p95": 200.0, "p99": 300.0, "max": 400.0},
        "flash_bytes": flash,
        "arena_bytes": arena,
        "macs": flash,
        "energy": energy,
    }


@pytest.fixture(scope="module")
def metrics() -> dict:
    return {
        "agent_id": "test",
        "uptime_s": 5.0,
        "readings": {
            "received": 100,
            "accepted": 100,
            "duplicates": 0,
            "late": 0,
            "filled_minutes": 0,
            "null_values": 3,
        },
        "rejected": {},
        "process": {"rss_bytes": 50_000_000, "peak_rss_bytes": 60_000_000, "tracemalloc_peak_bytes": 1_000_000},
        "models": {
            "persistence": model_metrics(0.30, 1, 0.5, 0.01),
            "linreg": model_metrics(0.2020, 256, 3.0, 0.3),
            "lstm_int8": model_metrics(0.2000, 9_000, 80.0, 160.0, arena=6_300),
            "big_lstm": model_metrics(0.1990, 900_000, 900.0, 9_000.0, arena=200_000),
        },
    }


#: What the firmware measured for lstm_int8 on three targets (made-up cycles: 10 ms at 133 MHz, 1 ms at 128 MHz, ...).
LSTM_TARGETS = {
    "cortex-m0": FirmwareMeasurement(400_000, 4_800, 600, cycles=1_330_000),
    "cortex-m33": FirmwareMeasurement(90_000, 4_200, 540, cycles=128_000),
    "rv32imc": FirmwareMeasurement(190_000, 4_600, 580, cycles=1_600_000),
}


@pytest.fixture(scope="module")
def manifest(metrics) -> Manifest:
    spec = WindowSpec()
    kinds = {
        "persistence": ModelKind.PERSISTENCE,
        "linreg": ModelKind.LINREG,
        "lstm_int8": ModelKind.TFLITE,
        "big_lstm": ModelKind.TFLITE,
    }
    return Manifest(
        {
            n: family(k).entry(
                name=n,
                window=spec,
                metrics={"mse": 0.25},
                macs=metrics["models"][n]["macs"],
                targets=LSTM_TARGETS if n == "lstm_int8" else {},
            )
            for n, k in kinds.items()
        }
    )


@pytest.fixture(scope="module")
def predictions() -> list[dict]:
    rows = []
    for model in ("persistence", "linreg", "lstm_int8", "big_lstm"):
        for i in range(600):
            ts = f"2007-05-01T{i // 60:02d}:{i % 60:02d}:00"
            rows.append(
                {
                    "meter": "house1",
                    "model": model,
                    "ts": ts,
                    "target_ts": ts,
                    "predicted": 1.0 + i / 600,
                    "actual": None if i >= 595 else 1.0,
                }
            )
    return rows


RUN = {"replayed": "2007-05-01T00:00:00 .. 2007-05-01T09:59:00"}


@pytest.fixture(scope="module")
def report(tmp_path_factory, metrics, predictions, manifest) -> ReportFiles:
    """One good run's report, read by the tests below (plotting takes seconds)."""
    return write_report(metrics, predictions, manifest, tmp_path_factory.mktemp("report"), run=RUN)


@pytest.fixture(scope="module")
def text(report) -> str:
    return report.markdown.read_text()


def test_report_writes_markdown_json_and_three_plots(report):
    files = report
    assert files.markdown.is_file() and files.json.is_file()
    assert sorted(p.name for p in files.plots.values()) == [
        "accuracy_vs_cost.png",
        "latency.png",
        "predicted_vs_actual.png",
    ]
    assert all(p.stat().st_size > 10_000 for p in files.plots.values())


def test_report_table_has_a_row_per_model_with_its_online_mse(text, metrics):
    rows = {line.split("|")[1].strip(): line for line in tables(text)[1] if line.startswith("| ")}
    for name, m in metrics["models"].items():
        assert f"{m['mse']:.4f}" in rows[name]


def test_estimated_energy_is_marked_and_measured_is_not(text):
    linreg = next(line for line in text.splitlines() if line.startswith("| linreg "))
    assert "| 3.00 µJ |" in linreg  # Pi figure, measured: no mark
    assert "| 300 nJ† |" in linreg  # MCU figure, estimated


def tables(text: str) -> list[list[str]]:
    """Every Markdown table of the report, as its lines."""
    found, current = [], []
    for line in text.splitlines() + [""]:
        if line.startswith("|"):
            current.append(line)
        elif current:
            found, current = found + [current], []
    return found


def cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip("|").split("|")]


def test_the_first_table_is_the_headline_best_online_mse_first(text):
    headline = tables(text)[0]
    assert (
        cells(headline[0])
        == [
            "model",
            "online MSE (kW²)",
            "latency p50",
            "model (flash)",
            f"energy per inference, {PI.name}",
            f"time per inference, {M0PLUS.name}",  # no power figure: the time
            f"energy per inference, {MCU.name}",
            *(f"time per inference, {d.name}" for d in DEVICE_CLASSES[3:]),
        ]
    )
    assert [cells(line)[0] for line in headline[2:]] == ["big_lstm", "lstm_int8", "linreg", "persistence"]
    # the agent's figures for the Pi and the M4F; the others from the manifest's cycles at each class' clock
    assert cells(headline[3]) == [
        "lstm_int8",
        "0.2000",
        "80.0 µs",
        "8.79 KiB",
        "80.0 µJ",
        "10.0 ms†",
        "160 µJ†",
        "1.00 ms†",
        "10.0 ms†",
    ]


def test_the_full_table_shows_units(text):
    full = tables(text)[1]
    big = dict(zip(cells(full[0]), cells(next(line for line in full if line.startswith("| big_lstm ")))))
    assert (big["latency p50"], big["latency p99"], big["model (flash)"], big["tensor arena (RAM)"]) == (
        "900 µs",
        "2.70 ms",
        "879 KiB",
        "195 KiB",
    )
    assert (big[f"energy per inference, {MCU.name}"], big[f"energy per day, {MCU.name}"]) == ("9.00 mJ†", "13.0 J†")


def test_a_column_equal_for_every_model_is_left_out_and_named(text):
    full = tables(text)[1]
    assert f"battery days, {PI.name}" not in full[0] and f"battery days, {MCU.name}" in full[0]
    note = next(line for line in text.splitlines() if line.startswith("The same for every model, so not a column: "))
    assert "scored 95;" in note and note.endswith(f"; battery days, {PI.name} 0.100.")


def test_the_report_says_why_online_and_offline_errors_differ(text):
    assert "The online MSE is scored by the agent on this run's replayed minutes (2007-05-01T00:00:00 .. " in text
    assert "another period of the household's life" in text


def test_a_run_with_problems_opens_with_a_red_error_box():
    assert problems_banner(["the agent received 101 readings, but 100 were published"])[:3] == [
        "> [!CAUTION]",
        "> **ERROR: this run's figures cannot be trusted.**",
        "> - the agent received 101 readings, but 100 were published",
    ]


def test_a_good_run_has_no_error_box(text):
    assert "[!CAUTION]" not in text


def test_json_recommends_per_device_class_from_the_numbers(report):
    document = json.loads(report.json.read_text())
    picks = {r["device"]: r["model"] for r in document["recommendations"]}
    # best fitting MSE on the Pi is big_lstm 0.1990; within 2%: linreg (0.2020), lstm_int8; linreg is cheapest.
    assert picks == {d.name: "linreg" for d in DEVICE_CLASSES}


def test_the_firmware_targets_of_each_model_are_tabled_from_the_manifest(text):
    table = next(t for t in tables(text) if cells(t[0])[:2] == ["model", "firmware target"])
    assert [cells(line)[:4] for line in table[2:]] == [
        ["lstm_int8", "cortex-m0", "400,000", "1,330,000†"],
        ["lstm_int8", "cortex-m33", "90,000", "128,000†"],
        ["lstm_int8", "rv32imc", "190,000", "1,600,000†"],
    ]


def test_every_device_class_is_listed_with_its_sources_and_a_missing_power_figure_says_so(text):
    for d in DEVICE_CLASSES:
        line = next(line for line in text.splitlines() if line.startswith(f"- **{d.name}**: "))
        assert d.sources in line
        assert ("power not given (time only)" in line) == (not d.has_power)


def test_on_a_microcontroller_without_a_power_figure_the_measured_cycles_decide():
    """Two models as good as each other: the one whose firmware target has fewer measured cycles is picked, though
    its MAC count (the estimate without a measurement) is 100 times larger."""
    from simulator.report_table import model_rows

    spec = WindowSpec()
    lstm = family(ModelKind.TFLITE)
    manifest = Manifest(
        {
            "by_macs": lstm.entry(name="by_macs", window=spec, macs=1_000),  # 9,000 cycles by the rule of thumb
            "measured": lstm.entry(
                name="measured",
                window=spec,
                macs=100_000,
                targets={"cortex-m0": FirmwareMeasurement(4_000, 3_000, 500, cycles=5_000)},
            ),
        }
    )
    metrics = {"models": {n: {"mse": 0.2, "flash_bytes": 3_000, "arena_bytes": 500} for n in manifest.models}}
    rows = model_rows(metrics, manifest, [M0PLUS])
    measured = rows[1].energy[M0PLUS.profile]
    assert measured.us_per_inference == pytest.approx(5_000 / 133e6 * 1e6)
    assert measured.uj_per_inference is None and "5,000 cycles on cortex-m0" in measured.time_basis
    rec = recommend([r.candidate(M0PLUS) for r in rows], M0PLUS)
    assert rec.model == "measured" and "no power figure so the time decides" in rec.reason


def test_the_horizon_stated_is_the_window_the_best_model_was_shipped_with(tmp_path: Path, metrics, predictions):
    persistence = family(ModelKind.PERSISTENCE)
    quarter_hour = Manifest({n: persistence.entry(name=n, window=WindowSpec(horizon=15)) for n in metrics["models"]})
    text = write_report(metrics, predictions, quarter_hour, tmp_path).markdown.read_text()
    assert "Our best online MSE in this run: big_lstm 0.1990 (15 minutes ahead)." in text


def test_paper_figure_is_labelled_as_theirs(text):
    assert "| Le et al. 2019" in text and "| 0.051 |" in text
    assert "theirs, not measured here" in text


def candidate(name: str, mse: float, uj: float, flash: int = 100, ram: int | None = None) -> Candidate:
    return Candidate(name, mse, uj, True, flash, ram, flash)


def test_cheapest_model_within_the_margin_wins_over_the_best():
    rec = recommend(
        [candidate("best", 0.100, 100.0), candidate("close", 0.1019, 1.0), candidate("far", 0.103, 0.1)],
        PI,
        margin=0.02,
    )
    assert (rec.model, rec.best_model) == ("close", "best")


def test_best_model_wins_when_nothing_cheaper_is_within_the_margin():
    rec = recommend([candidate("best", 0.100, 100.0), candidate("far", 0.1021, 1.0)], PI, margin=0.02)
    assert rec.model == "best"
    assert "lowest online MSE" in rec.reason


def test_models_over_the_device_budget_are_not_considered():
    tiny = replace(MCU, name="tiny", budget=Budget(max_flash_bytes=1_000, max_arena_bytes=1_000))
    rec = recommend(
        [candidate("huge", 0.05, 1.0, flash=10_000), candidate("small", 0.2, 5.0, flash=500, ram=800)], tiny
    )
    assert rec.model == "small" and rec.considered == ("small",)


def test_no_model_fitting_says_so():
    tiny = replace(MCU, name="tiny", budget=Budget(max_flash_bytes=10, max_arena_bytes=10))
    rec = recommend([candidate("huge", 0.05, 1.0, flash=10_000)], tiny)
    assert rec.model is None and "No model fits" in rec.reason


def test_the_host_offline_mse_is_read_where_the_converter_records_it():
    from simulator.report_table import offline_mse

    spec = WindowSpec()
    shipped = family(ModelKind.TFLITE).entry(
        name="lstm_int8", window=spec, metrics={"task": {"mse": 0.126}, "training": {"test": {"mse": 0.128}}}
    )
    trained_only = family(ModelKind.LINREG).entry(
        name="linreg", window=spec, metrics={"training": {"test": {"mse": 0.1265}}}
    )
    baseline = family(ModelKind.PERSISTENCE).entry(name="persistence", window=spec)
    assert offline_mse(shipped) == 0.126  # the shipped file's own error, not its float parent's
    assert offline_mse(trained_only) == 0.1265
    assert offline_mse(baseline) is None


SHIPPED = (
    "linreg",
    "linreg_q15",
    "persistence",
    "trend",
    "lstm_float32",
    "lstm_int8",
    "augmented_lstm_int8",
    "cnn_bilstm_int8",
    "mcu_lstm_int8",
    "linreg_cal",
)


def test_every_shipped_model_has_its_own_colour_the_same_in_any_report():
    from simulator.report_plots import model_styles

    everything = model_styles(SHIPPED)
    assert len({style.colour for style in everything.values()}) == len(SHIPPED)
    assert model_styles(["mcu_lstm_int8", "persistence"])["mcu_lstm_int8"].colour == everything["mcu_lstm_int8"].colour


def test_a_new_model_takes_a_colour_no_shipped_model_has():
    from simulator.report_plots import model_styles

    styles = model_styles([*SHIPPED, "new_model"])
    assert styles["new_model"].colour not in {styles[name].colour for name in SHIPPED}


def test_on_a_log_cost_axis_a_zero_cost_sits_a_decade_below_the_cheapest_and_a_missing_figure_is_named():
    from simulator.report_plots import CostAxis

    axis = CostAxis.of({"persistence": 0.0, "linreg": 2_233.0, "lstm_int8": 7_320.0, "mystery": None})
    assert axis.x == {"persistence": 100.0, "linreg": 2_233.0, "lstm_int8": 7_320.0}
    assert axis.notes() == "no figure: mystery; cost 0, at the left edge: persistence"
