"""The agent's state file: what a restarted agent remembers (the streams and models, the sources' open minutes), and
what it refuses to believe."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from device.clock import HouseholdTime
from device.forecasting.forecaster import Forecaster
from device.io.state import load_state, save_state
from device.models.load import load_models
from device.readings import DEFAULT_LIMITS, Reading
from device.sources.intake import SourceIntake
from device.sources.reader import Source
from tests.device_assets import Series, build_assets
from tests.sources_examples import SAMPLE_TIMES, WATTS, shelly_gen1_messages, tasmota_message

MODELS = ("linreg", "persistence", "trend_line")


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> Path:
    return build_assets(tmp_path_factory.mktemp("assets"), Series.bundled())


@pytest.fixture(scope="module")
def readings() -> list[Reading]:
    series = Series.bundled(start=8000, rows=600)  # with the file's nulls
    return [Reading(meter, int(m), raw) for m, raw in zip(series.minutes, series.raw) for meter in ("a", "b")]


def fates(steps) -> list:
    return [
        (
            s.update.outcome,
            [(p.model, p.predicted_kw) for p in s.predictions],
            [(p.model, p.minute, p.actual_kw) for p in s.scored],
        )
        for s in steps
    ]


def test_a_restored_forecaster_carries_on_exactly_like_one_that_never_stopped(assets, readings, tmp_path):
    models = load_models(assets, MODELS)
    never_stopped = Forecaster(models, max_gap_minutes=15)
    first_life = Forecaster(models, max_gap_minutes=15)
    half = len(readings) // 2
    never_stopped.process_batch(readings[:half])
    first_life.process_batch(readings[:half])
    save_state(tmp_path / "state.json", first_life)
    second_life = Forecaster(models, max_gap_minutes=15)
    assert load_state(tmp_path / "state.json", second_life).outcome == "restored"
    assert fates(second_life.process_batch(readings[half:])) == fates(never_stopped.process_batch(readings[half:]))
    assert list(second_life.meters) == list(never_stopped.meters)
    for model in MODELS:
        assert second_life.errors(model) == never_stopped.errors(model)


def test_a_resend_of_a_saved_minute_is_still_a_duplicate_after_the_restart(assets, readings, tmp_path):
    models = load_models(assets, MODELS)
    before = Forecaster(models, max_gap_minutes=15)
    before.process_batch(readings[:100])
    save_state(tmp_path / "state.json", before)
    after = Forecaster(models, max_gap_minutes=15)
    load_state(tmp_path / "state.json", after)
    assert after.process(readings[50]).update.outcome.value == "duplicates"


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "garbage", "empty"])
def test_a_damaged_state_file_is_ignored_with_a_warning_never_a_crash(assets, readings, tmp_path, damage, caplog):
    models = load_models(assets, MODELS)
    saved = Forecaster(models, max_gap_minutes=15)
    saved.process_batch(readings[:100])
    path = tmp_path / "state.json"
    save_state(path, saved)
    data = bytearray(path.read_bytes())
    if damage == "flip a byte":
        data[len(data) // 2] ^= 0x01
    path.write_bytes(
        {
            "flip a byte": bytes(data),
            "truncate": bytes(data[: len(data) // 2]),
            "garbage": b"\x00\xff not a state",
            "empty": b"",
        }[damage]
    )
    fresh = Forecaster(models, max_gap_minutes=15)
    restored = load_state(path, fresh)
    assert restored.outcome == "ignored" and fresh.meters == {}
    assert "ignoring the state file" in caplog.text


def test_a_missing_state_file_means_a_first_start(assets, tmp_path):
    assert load_state(tmp_path / "nothing.json", Forecaster(load_models(assets, MODELS), 15)).outcome == "absent"


def test_a_model_whose_window_changed_since_the_save_starts_empty(assets, readings, tmp_path):
    models = load_models(assets, MODELS)
    saved = Forecaster(models, max_gap_minutes=15)
    saved.process_batch(readings[:100])
    path = tmp_path / "state.json"
    save_state(path, saved)
    header, body = path.read_bytes().split(b"\n", 1)
    state = json.loads(body)
    state["models"]["trend_line"]["window"]["seq_len"] = 99  # as if the model had been re-converted with another window
    body = json.dumps(state).encode()
    path.write_bytes(json.dumps({"sha256": hashlib.sha256(body).hexdigest()}).encode() + b"\n" + body)
    restored = Forecaster(models, max_gap_minutes=15)
    assert load_state(path, restored).outcome == "restored"
    assert restored.meters["a"].tracks["trend_line"].features.size == 0
    assert restored.meters["a"].tracks["linreg"].errors == saved.meters["a"].tracks["linreg"].errors


def sources_intake() -> SourceIntake:
    return SourceIntake((Source("tasmota"), Source("shelly-gen1")), HouseholdTime("Europe/Paris"), DEFAULT_LIMITS)


def meter_messages() -> list[tuple[float, str, bytes]]:
    """A Tasmota stamping its samples and a Shelly 3EM by its default id (arrival-stamped, a phase a message), every
    20 s."""
    return [
        (t, topic, payload)
        for t, w in zip(SAMPLE_TIMES, WATTS)
        for topic, payload in tasmota_message("plug1", t, w) + shelly_gen1_messages("shellyem3-abc", t, w)
    ]


def closed_minutes(intake: SourceIntake, forecaster: Forecaster, messages, end_s: float | None = None) -> list:
    readings = [r for t, topic, payload in messages for r in intake.read(topic, payload, arrival_s=t)]
    readings += intake.tick(end_s) if end_s else []
    forecaster.process_batch(readings)
    return [(r.meter, r.minute, float(r.values[0]), r.held) for r in readings]


def test_a_restart_mid_minute_resumes_the_meters_open_minutes_so_they_equal_an_uninterrupted_run(assets, tmp_path):
    models = load_models(assets, ("persistence",))
    messages = meter_messages()
    end_s = SAMPLE_TIMES[-1] + 60  # the clock closes the last minute
    expected = closed_minutes(sources_intake(), Forecaster(models, 15), messages, end_s)
    cut = 4 * 4 + 2  # after T0 + 80 s's Tasmota sample and the 3EM's first phase: minute 1 is open, mid-sample
    first_intake, first_life = sources_intake(), Forecaster(models, 15)
    closed = closed_minutes(first_intake, first_life, messages[:cut])
    save_state(tmp_path / "state.json", first_life, first_intake)
    second_intake, second_life = sources_intake(), Forecaster(models, 15)
    assert load_state(tmp_path / "state.json", second_life, second_intake).outcome == "restored"
    closed += closed_minutes(second_intake, second_life, messages[cut:], end_s)
    assert closed == expected and len(expected) == 2 * 7
    assert list(second_life.meters) == ["plug1", "shellyem3-abc"]


def test_a_state_file_written_before_the_sources_part_existed_still_restores_the_forecaster(assets, readings, tmp_path):
    saved = Forecaster(load_models(assets, MODELS), max_gap_minutes=15)
    saved.process_batch(readings[:100])
    save_state(tmp_path / "state.json", saved)  # no intake: as an agent before it was saved
    restored, intake = Forecaster(load_models(assets, MODELS), max_gap_minutes=15), sources_intake()
    assert load_state(tmp_path / "state.json", restored, intake).outcome == "restored"
    assert list(restored.meters) == ["a", "b"] and len(intake.resampler) == 0
