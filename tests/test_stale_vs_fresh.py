"""Stale vs fresh end to end on the bundled slice: two tiny models trained, converted to int8, scored under LiteRT."""

import json
import math

import numpy as np
import pytest

from bench.stale_vs_fresh import StaleFreshConfig, main
from tests.conftest import BUNDLED_DATA
from train.data import rows_between

TINY = [
    "--data",
    str(BUNDLED_DATA),
    "--stale-from",
    "2007-04-22",
    "--stale-to",
    "2007-04-27",
    "--weeks",
    "2007-04-28",
    "--fresh-days",
    "5",
    "--epochs",
    "1",
    "--fresh-epochs",
    "2",
    "--calibration-windows",
    "100",
    "--handover-test-windows",
    "100",
]


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("stale_vs_fresh")
    main([*TINY, "--out", str(out), "--log-level", "WARNING"])
    return out


@pytest.mark.slow
def test_both_int8_models_and_persistence_are_scored_on_the_same_week(bench_dir):
    results = json.loads((bench_dir / "results.json").read_text())
    (week,) = results["weeks"]
    assert week["week"] == "2007-04-28" and week["windows"] == 7 * 1440 - 30 - 5 + 1
    for model in ("stale", "fresh", "persistence", "stale_float", "fresh_float"):
        assert week[model]["n"] == week["windows"]
        assert math.isfinite(week[model]["mse"]) and week[model]["mse"] > 0
    assert week["stale"]["mse"] != week["fresh"]["mse"]  # two models, not one scored twice
    assert week["winner"] == ("fresh" if week["fresh"]["mse"] < week["stale"]["mse"] else "stale")
    assert results["median_mse"]["fresh"] == week["fresh"]["mse"]


@pytest.mark.slow
def test_each_model_trained_on_its_own_period_and_shipped_an_int8_file(bench_dir):
    models = {m["role"]: m for m in json.loads((bench_dir / "results.json").read_text())["models"]}
    assert (models["stale"]["trained_from"], models["stale"]["trained_to"]) == ("2007-04-22", "2007-04-27")
    assert (models["fresh"]["trained_from"], models["fresh"]["trained_to"]) == ("2007-04-23", "2007-04-28")
    assert (models["stale"]["epochs"], models["fresh"]["epochs"]) == (1, 2)  # --epochs, --fresh-epochs
    for m in models.values():
        assert m["training_windows"] == 5 * 1440 - 30 - 5 + 1 and m["train_seconds"] > 0
        assert (bench_dir / "int8" / f"{m['name']}.tflite").stat().st_size == m["int8_bytes"]


@pytest.mark.slow
def test_the_table_holds_the_week_the_median_and_both_models(bench_dir):
    results = json.loads((bench_dir / "results.json").read_text())
    table = (bench_dir / "results.md").read_text()
    week = results["weeks"][0]
    assert f"| 2007-04-28 | 10,046 | 3,723 | {week['stale']['mse']:.4f} | {week['fresh']['mse']:.4f} | " in table
    assert f"| **median of 1** | | | **{week['stale']['mse']:.4f}** |" in table
    assert "at most 1 (stale) and 2 (fresh) epochs" in table
    assert "| stale | 2007-04-22 .. 2007-04-27 | 7,166 |" in table and "| fresh_2007-04-28 |" in table
    assert (bench_dir / "mse_per_week.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_held_out_week_the_stale_model_trained_on_is_refused():
    with pytest.raises(ValueError, match="before --stale-to"):
        StaleFreshConfig(weeks=("2007-06-04",))


def test_a_period_outside_the_data_is_refused_with_what_the_data_cover():
    minutes = np.arange(1440 * 3, dtype=np.int64) + np.datetime64("2010-01-01", "m").astype(np.int64)
    assert rows_between(minutes, "2010-01-02", "2010-01-03") == slice(1440, 2880)
    with pytest.raises(ValueError, match="run from 2010-01-01T00:00 to 2010-01-03T23:59"):
        rows_between(minutes, "2009-12-31", "2010-01-02")
