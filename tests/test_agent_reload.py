"""Reloading the agent's models without a restart: every hash checked before anything is built (a bad reload is
refused whole and the old models keep serving), unchanged models keep their windows and scores, changed and new ones
start fresh, Home Assistant learns of new models and forgets dropped ones; on request, on a manifest change, on
SIGHUP."""

from __future__ import annotations

import json
import logging
import shutil
import signal
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest

from device.contract import MEASUREMENTS
from device.forecasting.forecaster import Forecaster
from device.forecasting.stream import MeterStream, Outcome
from device.models.load import load_models
from device.models.manifest import AssetIntegrityError, load_manifest, write_manifest
from device.models.reload import plan_reload
from device.mqtt.settings import BrokerSettings
from device.readings import Reading
from simulator.agent_process import AgentProcess, AgentRun
from tests.collector import Collector
from tests.device_assets import Series, build_assets, offline_metrics
from tests.test_agent_mqtt import publisher, send, start_agent, wait_for

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "firmware_assets"
SERIES = Series.bundled(rows=600)  # no null in it: a forward fill across the reload cannot differ from the offline one
BEFORE, AFTER = Series(SERIES.minutes[:300], SERIES.raw[:300]), Series(SERIES.minutes[300:], SERIES.raw[300:])


def readings(series: Series, meter: str = "m1") -> list[Reading]:
    return [Reading(meter, int(minute), raw) for minute, raw in zip(series.minutes, series.raw)]


def ship(assets: Path, models: dict[str, dict], corrupt: str | None = None) -> None:
    """Rewrite ``assets``' manifest to list ``models`` (name -> fields to change in the shipped entry; the files
    section stays whole), after flipping a byte of ``corrupt`` if given: what shipping a retrained model does."""
    if corrupt:
        data = bytearray((assets / corrupt).read_bytes())
        data[len(data) // 2] ^= 0xFF
        (assets / corrupt).write_bytes(bytes(data))
    manifest = load_manifest(SHIPPED)
    manifest.models = {name: replace(manifest.models[name], **fields) for name, fields in models.items()}
    write_manifest(assets, manifest)


@pytest.fixture
def assets(tmp_path) -> Path:
    """A copy of the shipped assets (real TFLite files) listing three numpy models."""
    copy = tmp_path / "assets"
    shutil.copytree(SHIPPED, copy)
    ship(copy, {"linreg": {}, "persistence": {}, "trend_line": {}})
    return copy


# --- the parts -------------------------------------------------------------------------------------------------


def test_a_stream_takes_a_new_needed_set_and_dedupe_horizon_and_keeps_its_flags():
    values = np.arange(len(MEASUREMENTS), dtype=np.float64)
    values[MEASUREMENTS.index("v")] = np.nan  # the meter does not send voltage
    stream = MeterStream(30, max_gap_minutes=15, needed=("gap",))
    assert stream.accept(100, values).outcome is Outcome.ACCEPTED
    stream.reconfigure(60, ("gap", "v"))  # a model that needs voltage came in
    assert stream.accept(100, values).outcome is Outcome.DUPLICATE  # the flags survived the new horizon
    assert stream.accept(101, values).outcome is Outcome.UNFILLABLE  # voltage is needed now, and never came
    stream.reconfigure(1, ("gap",))
    assert stream.accept(99, values).outcome is Outcome.LATE  # past the shorter horizon
    assert stream.accept(101, values).outcome is Outcome.ACCEPTED


def test_a_swap_keeps_an_unchanged_models_track_and_starts_a_changed_one_empty(tmp_path):
    numpy_assets = build_assets(tmp_path / "assets", Series.bundled(rows=2000))
    linreg, persistence, trend = load_models(numpy_assets, ("linreg", "persistence", "trend_line"))
    forecaster = Forecaster([linreg, persistence, trend], max_gap_minutes=15)
    forecaster.process_batch(readings(BEFORE))
    tracks = forecaster.meters["m1"].tracks
    kept = tracks["linreg"]
    windows, pending, errors = kept.features.last(kept.features.size).copy(), dict(kept.pending), asdict(kept.errors)
    unscored = [*tracks["persistence"].pending.values(), *tracks["trend_line"].pending.values()]
    retrained = replace(trend)  # what the planner builds for a changed entry: another object, the same name

    let_go = forecaster.swap_models([linreg, retrained])  # and persistence is dropped

    tracks = forecaster.meters["m1"].tracks
    assert list(tracks) == ["linreg", "trend_line"] and tracks["linreg"] is kept
    np.testing.assert_array_equal(kept.features.last(kept.features.size), windows)
    assert kept.pending == pending and asdict(kept.errors) == errors
    fresh = tracks["trend_line"]
    assert fresh.features.size == 0 and not fresh.pending and fresh.errors.count == 0
    assert sorted(let_go, key=repr) == sorted(unscored, key=repr) and len(let_go) == 2 * 5  # horizon 5 each
    forecaster.process_batch(readings(AFTER))
    never_swapped = Forecaster([linreg], max_gap_minutes=15)
    never_swapped.process_batch(readings(SERIES))
    swapped, uninterrupted = forecaster.errors("linreg"), never_swapped.errors("linreg")
    assert swapped.count == uninterrupted.count and swapped.mse == pytest.approx(uninterrupted.mse, rel=1e-12)
    # The changed model scores as on a meter that started at the swap: the trend line fits its line through the
    # rows its window really holds, not through the zeros padding the rows it never saw.
    restarted = offline_metrics(retrained, AFTER)
    assert forecaster.errors("trend_line").count == restarted["n"]
    assert forecaster.errors("trend_line").mse == pytest.approx(restarted["mse"], abs=1e-9)


def test_the_plan_keeps_unchanged_models_builds_changed_and_added_ones_and_drops_the_rest(assets):
    running = load_models(assets, ())
    ship(assets, {"linreg": {}, "persistence": {"notes": "retrained"}, "lstm_int8": {}})
    plan = plan_reload(running, assets, ())
    assert (plan.added, plan.changed, plan.dropped, plan.unchanged) == (
        ["lstm_int8"],
        ["persistence"],
        ["trend_line"],
        ["linreg"],
    )
    assert plan.models[0] is running[0]  # linreg's predictor is not rebuilt
    assert [m.name for m in plan.models] == ["linreg", "persistence", "lstm_int8"]
    assert plan.models[2].file_sha256 == load_manifest(assets).files["lstm_int8.tflite"]["sha256"]
    assert plan.summary() == "added lstm_int8; changed persistence; dropped trend_line; 1 unchanged"


def test_a_file_none_of_the_chosen_models_uses_refuses_the_reload_when_tampered(assets):
    running = load_models(assets, ("persistence",))
    ship(assets, {"persistence": {}, "linreg": {}}, corrupt="linreg.c")  # a listed file, loaded by no model
    with pytest.raises(AssetIntegrityError, match="linreg.c: sha256 mismatch"):
        plan_reload(running, assets, ("persistence",))


def test_a_chosen_model_missing_from_the_new_manifest_refuses_the_reload(assets):
    running = load_models(assets, ("linreg", "persistence"))
    ship(assets, {"persistence": {}})
    with pytest.raises(KeyError, match="linreg"):
        plan_reload(running, assets, ("linreg", "persistence"))


# --- the agent over a real Mosquitto ---------------------------------------------------------------------------


def predictions_of(agent, model: str) -> int:
    return agent.metrics.snapshot()["models"][model]["predictions"]


@pytest.mark.broker
def test_a_tampered_reload_is_refused_and_the_old_models_keep_predicting(mosquitto, assets, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="wattcast.agent")
    agent = start_agent(mosquitto, assets, tmp_path, ha_discovery=False, reload_check_s=0.05)
    client = publisher(mosquitto.port)
    try:
        sent = send(client, BEFORE)
        wait_for(lambda: agent.metrics.readings["accepted"] == sent, "the first readings")
        ship(
            assets,
            {"linreg": {}, "persistence": {}, "trend_line": {}, "lstm_float32": {}},
            corrupt="lstm_float32.tflite",
        )  # the watch sees the new manifest
        wait_for(lambda: agent.metrics.reloads["refused"] == 1, "the refusal")
        time.sleep(0.5)  # ten looks at the manifest: a refused manifest is not retried until it changes
        assert agent.metrics.reloads["refused"] == 1 and agent.metrics.reloads["done"] == 0
        assert "lstm_float32.tflite: sha256 mismatch" in agent.metrics.reloads["last"]["refused"]
        (refusal,) = [r for r in caplog.records if r.levelno == logging.ERROR]
        assert "refused to reload" in refusal.getMessage() and "lstm_float32.tflite" in refusal.getMessage()
        before = predictions_of(agent, "linreg")
        sent += send(client, Series(AFTER.minutes[:100], AFTER.raw[:100]))
        wait_for(lambda: agent.metrics.readings["accepted"] == sent, "readings after the refusal")
        assert predictions_of(agent, "linreg") == before + 100
        assert [m.name for m in agent.forecaster.models] == ["linreg", "persistence", "trend_line"]

        shutil.copy(SHIPPED / "lstm_float32.tflite", assets / "lstm_float32.tflite")  # the file fixed...
        ship(assets, {"linreg": {}, "persistence": {}, "trend_line": {}, "lstm_float32": {}})  # ...and shipped again
        wait_for(lambda: agent.metrics.reloads["done"] == 1, "the reload of the fixed manifest")
        assert agent.metrics.reloads["last"]["added"] == ["lstm_float32"]
    finally:
        snapshot = agent.stop()
    assert snapshot["reloads"]["refused"] == 1 and snapshot["reloads"]["done"] == 1
    assert set(snapshot["models"]) == {"linreg", "persistence", "trend_line", "lstm_float32"}


@pytest.mark.broker
def test_a_reload_adds_changes_and_drops_models_and_unchanged_scores_carry_on(mosquitto, assets, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="wattcast.agent")
    live = Collector(
        BrokerSettings(mosquitto.url), ["homeassistant/sensor/pi01/+/config", "devices/pi01/meters/m1/state"]
    )
    agent = start_agent(mosquitto, assets, tmp_path, reload_check_s=0, state_file=tmp_path / "state.json")
    client = publisher(mosquitto.port)
    try:
        sent = send(client, BEFORE)
        wait_for(lambda: agent.metrics.readings["accepted"] == sent, "the first readings")
        linreg = agent.forecaster.models[0]
        scored_before = agent.forecaster.errors("linreg").count
        ship(assets, {"linreg": {}, "persistence": {"notes": "retrained"}, "lstm_int8": {}})
        agent.request_reload()
        wait_for(lambda: agent.metrics.reloads["done"] == 1, "the reload")
        saved = json.loads((tmp_path / "state.json").read_bytes().partition(b"\n")[2])
        assert list(saved["models"]) == ["linreg", "persistence", "lstm_int8"]
        sent += send(client, AFTER)
        wait_for(lambda: agent.metrics.readings["accepted"] == sent, "the readings after the reload")
    finally:
        snapshot = agent.stop()
    assert snapshot["reloads"]["last"] | {"at": None} == {
        "at": None,
        "added": ["lstm_int8"],
        "changed": ["persistence"],
        "dropped": ["trend_line"],
        "unchanged": 1,
    }
    assert "added lstm_int8; changed persistence; dropped trend_line; 1 unchanged" in caplog.text
    assert agent.forecaster.models[0] is linreg and set(snapshot["models"]) == {"linreg", "persistence", "lstm_int8"}
    # linreg scores on as if nothing happened; the changed and the new model as on a meter that started at the reload
    assert snapshot["models"]["linreg"]["scored"] > scored_before
    predictions = {name: model["predictions"] for name, model in snapshot["models"].items()}
    assert predictions == {"linreg": len(SERIES) - 1, "persistence": len(AFTER) - 1, "lstm_int8": len(AFTER) - 1}
    for model, series in zip(agent.forecaster.models, (SERIES, AFTER, AFTER)):
        offline = offline_metrics(model, series)
        assert snapshot["models"][model.name]["scored"] == offline["n"], model.name
        assert snapshot["models"][model.name]["mse"] == pytest.approx(offline["mse"], abs=1e-6), model.name
    unscored_trend = [
        row
        for row in (tmp_path / "predictions.csv").read_text().splitlines()
        if row.startswith("m1,trend_line,") and row.endswith(",")
    ]
    assert len(unscored_trend) == 5  # its pending forecasts at the reload, written as the dropped they are

    dropped = {
        f"homeassistant/sensor/pi01/{leaf}/config"
        for leaf in ("trend_line_rmse", "trend_line_latency", "m1_trend_line_predicted")
    }
    wait_for(lambda: all(b"" in live.payloads(topic) for topic in dropped), "the dropped model's configs removed")
    late = Collector(BrokerSettings(mosquitto.url), ["homeassistant/sensor/pi01/+/config"])  # sees what is retained
    wait_for(lambda: len(late.messages) == 3 * 3, "three models' retained configs")
    retained = {topic for topic, _, was_retained in late.messages if was_retained}
    assert {
        f"homeassistant/sensor/pi01/{leaf}/config"
        for leaf in ("lstm_int8_rmse", "lstm_int8_latency", "m1_lstm_int8_predicted")
    } <= retained
    assert not retained & dropped
    # the meter's state (live, not retained) forgot the dropped model
    assert set(json.loads(live.payloads("devices/pi01/meters/m1/state")[-1])) == {"linreg", "persistence", "lstm_int8"}
    live.close()
    late.close()


@pytest.mark.broker
def test_sighup_reloads_the_models_of_a_running_agent_process(mosquitto, assets, tmp_path):
    ship(assets, {"persistence": {}})
    run = AgentRun(BrokerSettings(mosquitto.url), assets, (), tmp_path / "agent", extra_args=("--reload-check-s", "0"))
    with AgentProcess(run) as agent:
        ship(assets, {"persistence": {}, "linreg": {}})
        agent.process.send_signal(signal.SIGHUP)
        wait_for(lambda: ((agent.metrics() or {}).get("reloads") or {}).get("done") == 1, "the reload on SIGHUP")
        assert set(agent.metrics()["models"]) == {"persistence", "linreg"}
    assert "reloaded" in run.log_file.read_text() and "added linreg" in run.log_file.read_text()
