"""Candidates can be trained one run at a time into the same out-dir: rows of a comparable earlier run are kept."""

import json
from dataclasses import replace

from train.search import SearchConfig, config_of, earlier_rows, merged, settings_of
from train.search_report import SearchRow


def row(name: str, mse: float, kind: str = "lstm") -> SearchRow:
    return SearchRow(name, "gap", 10, 100, mse, mse, kind=kind)


def write_results(config: SearchConfig, rows: list[SearchRow]) -> None:
    config.out_dir.mkdir(parents=True, exist_ok=True)
    (config.out_dir / "results.json").write_text(
        json.dumps({"config": settings_of(config), "rows": [r.to_dict() for r in rows]})
    )


def test_this_runs_rows_replace_earlier_ones_of_the_same_name_and_new_ones_follow():
    earlier = [row("persistence", 0.22, "persistence"), row("res16_hour_sm", 0.16)]
    now = [row("persistence", 0.21, "persistence"), row("res8_hour_sm", 0.18)]
    assert [(r.name, r.float_mse) for r in merged(earlier, now)] == [
        ("persistence", 0.21),
        ("res16_hour_sm", 0.16),
        ("res8_hour_sm", 0.18),
    ]


def test_rows_of_an_earlier_run_with_the_same_settings_are_kept_whatever_its_candidates(tmp_path):
    first = SearchConfig(out_dir=tmp_path, candidates=("res16_hour_sm",), patience=12)
    write_results(first, [row("res16_hour_sm", 0.16)])
    assert [r.name for r in earlier_rows(replace(first, candidates=("res8_hour_sm",)))] == ["res16_hour_sm"]


def test_rows_trained_with_other_settings_are_dropped(tmp_path):
    first = SearchConfig(out_dir=tmp_path, patience=3)
    write_results(first, [row("res16_hour_sm", 0.16)])
    assert earlier_rows(replace(first, patience=12)) == []


def test_a_run_recorded_before_the_time_bound_existed_reads_as_unbounded(tmp_path):
    first = SearchConfig(out_dir=tmp_path, patience=3)
    settings = settings_of(first)
    del settings["max_train_seconds"]
    (tmp_path / "results.json").write_text(
        json.dumps({"config": settings, "rows": [row("res16_hour_sm", 0.16).to_dict()]})
    )
    assert [r.name for r in earlier_rows(first)] == ["res16_hour_sm"]
    assert earlier_rows(replace(first, max_train_seconds=345.0)) == []


def test_the_recorded_config_reads_back_equal(tmp_path):
    config = SearchConfig(out_dir=tmp_path, candidates=("res8_hour_sm",), patience=12)
    assert config_of(json.loads(json.dumps(settings_of(config)))) == config


def test_least_squares_on_calendar_features_stays_well_conditioned():
    """Older lags of sin/cos of the hour are linear in the last one: only the last step's are fitted."""
    import numpy as np

    from device.contract import WindowSpec, calendar_features
    from train.search import least_squares

    spec = WindowSpec(30, 5, ("gap", "hour_sin", "hour_cos"))
    rng = np.random.default_rng(0)
    minutes = np.arange(20_000)
    series = np.column_stack([rng.random(len(minutes)), (calendar_features(minutes)[:, :2] + 1) / 2])
    x = np.lib.stride_tricks.sliding_window_view(series, (30, 3))[:-5, 0].astype(np.float32)
    y = series[29:-5, 0] * 0.5 + series[34:, 1] * 0.3  # the last reading and the hour at the target
    model = least_squares(spec, x, y)
    coef = model.coef.reshape(30, 3)
    assert np.all(coef[:-1, 1:] == 0)
    assert np.abs(model.coef).max() < 10
    assert np.abs(model.predict(x, None) - y).max() < 1e-3
