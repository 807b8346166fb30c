"""Issue 16 end to end, with real parts: an agent process on a real Mosquitto records the house (--record) while it
forecasts; ``python -m train`` retrains on that recording; ``python -m convert.quantize --add`` ships the new model into
the agent's asset folder; SIGHUP; the agent forecasts on without a missing minute, the new model in its metrics and in
Home Assistant discovery, its online scores those of the offline evaluation of the shipped file on the same minutes."""

from __future__ import annotations

import contextlib
import csv
import io
import shutil
import signal
import time
from pathlib import Path

import pytest

from convert.quantize import main as convert_main
from device.contract import MIN_HISTORY
from device.models.load import load_models
from device.models.manifest import load_manifest, write_manifest
from device.mqtt.settings import BrokerSettings
from device.readings import format_minute
from simulator.agent_process import AgentProcess, AgentRun
from simulator.brokers import MosquittoBroker
from simulator.publisher import AckingPublisher
from simulator.replay import ReplayConfig, replay
from tests.collector import Collector
from tests.device_assets import Series, offline_metrics
from train.__main__ import main as train_main
from train.data import load_measurements

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "data" / "household_power_14d.txt"
RECORDED_DAYS = 10  # of the slice's 14; the rest is replayed after the reload
SHIP_AS = "mcu_lstm_house"
HEAVY = ("augmented_lstm_int8", "cnn_bilstm_int8", "lstm_float32")
WAIT_S = 120.0
#: The bundled slice is 14 days, so the test retrains on 10 of them with the thresholds and the held-out part scaled
#: down (the defaults, 14 days of history, 7 of them real, 7 held out, are checked in test_house_retrain.py).
SMALL_HOUSE = (
    "--min-days",
    "7",
    "--min-real-days",
    "5",
    "--test-days",
    "2",
    "--house-epochs",
    "2",
    "--calibration-windows",
    "300",
    "--handover-test-windows",
    "300",
)


def light_assets(folder: Path) -> Path:
    """The committed assets without the two heavy reference networks (milliseconds a window each, which would make
    this test minutes long), kept otherwise byte for byte: the manifest lists exactly the files left."""
    shutil.copytree(REPO / "firmware_assets", folder)
    manifest = load_manifest(folder)
    for name in HEAVY:
        file = manifest.models.pop(name).file
        manifest.files.pop(file)
        (folder / file).unlink()
    write_manifest(folder, manifest)
    return folder


@pytest.fixture
def broker(tmp_path):
    """A Mosquitto that queues everything for the agent's session (its default keeps 1,000), so days of readings
    can be published at once and the agent takes them in large batches, as after an outage."""
    broker = MosquittoBroker(tmp_path / "broker", extra_config="max_queued_messages 0\n").start()
    yield broker
    broker.stop()


def replay_rows(broker, agent: AgentProcess, rows: slice) -> None:
    """Publish the slice's rows as meter house1 (its naive stamps read as Europe/Paris time by the agent), then wait
    until the agent has handled all of them (an end marker behind them)."""
    sent = load_measurements(BUNDLED).rows(rows)
    config = ReplayConfig(broker=BrokerSettings(broker.url), client_id="replay", progress=False, ack_timeout_s=WAIT_S)
    result = replay(config, sent)
    assert result.acknowledged == len(sent)
    marker = AckingPublisher(BrokerSettings(broker.url), "end-marker", max_inflight=1, max_queued=0)
    try:
        agent.wait_for_end_marker(marker, WAIT_S)
    finally:
        marker.close()


def predicted_minutes(path: Path) -> dict[str, set[str]]:
    """model -> the minutes (``ts``) it made a forecast at, from the agent's predictions file."""
    by_model: dict[str, set[str]] = {}
    with path.open() as f:
        for row in csv.DictReader(f):
            by_model.setdefault(row["model"], set()).add(row["ts"])
    return by_model


def stamps(rows: slice) -> set[str]:
    """The agent's ``ts`` of the slice's rows: UTC, the slice being Paris summer time (CEST, UTC+2)."""
    minutes = load_measurements(BUNDLED).minutes[rows] - 120
    return {format_minute(int(m)) for m in minutes}


@pytest.mark.slow
@pytest.mark.broker
def test_record_retrain_ship_and_reload_without_a_missing_forecast(broker, tmp_path):
    assets = light_assets(tmp_path / "assets")
    recording = tmp_path / "recording"
    run = AgentRun(
        BrokerSettings(broker.url),
        assets,
        (),
        tmp_path / "agent",
        agent_id="pi01",
        session_expiry_s=3600,
        extra_args=(
            "--record",
            str(recording),
            "--timezone",
            "Europe/Paris",
            "--ha-discovery",
            "--reload-check-s",
            "0",
        ),
    )  # the reload comes from the SIGHUP alone
    recorded, after = slice(0, RECORDED_DAYS * 1440), slice(RECORDED_DAYS * 1440, None)
    discovery = Collector(BrokerSettings(broker.url), ["homeassistant/sensor/pi01/+/config"])
    agent = AgentProcess(run).start()
    try:
        replay_rows(broker, agent, recorded)
        before = agent.metrics()
        shipped_before = set(before["models"])

        with contextlib.redirect_stdout(io.StringIO()):
            train_main(["--data", str(recording / "house1"), "--out", str(tmp_path / "run"), *SMALL_HOUSE])
        handover = next((tmp_path / "run" / "models").glob("house_*.keras")).with_suffix("")
        with contextlib.redirect_stdout(io.StringIO()):
            convert_main(
                ["--mcu-model", str(handover), "--add", "--mcu-name", SHIP_AS, "--out", str(assets), "--no-tflm"]
            )

        agent.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + WAIT_S
        while ((agent.metrics() or {}).get("reloads") or {}).get("done", 0) < 1:
            assert time.monotonic() < deadline, f"no reload within {WAIT_S:.0f} s; see {run.log_file}"
            time.sleep(0.2)
        replay_rows(broker, agent, after)
        assert agent.stop() == 0
        metrics = agent.metrics()
    finally:
        agent.stop()
        discovery.close()

    reload = metrics["reloads"]
    assert (reload["done"], reload["refused"]) == (1, 0)
    assert sorted(reload["last"]["added"]) == sorted([SHIP_AS, f"{SHIP_AS}_linreg"])
    assert reload["last"]["changed"] == reload["last"]["dropped"] == []
    assert set(metrics["models"]) == shipped_before | {SHIP_AS, f"{SHIP_AS}_linreg"}

    # Forecasting went on: every model that was running has a forecast at every minute from its second reading on,
    # across the reload; the new ones at every minute from their second reading after it.
    made = predicted_minutes(run.predictions_file)
    for model in shipped_before:
        assert made[model] == stamps(slice(MIN_HISTORY - 1, None)), model
    for model in (SHIP_AS, f"{SHIP_AS}_linreg"):
        assert made[model] == stamps(slice(after.start + MIN_HISTORY - 1, None)), model

    # The new model is announced to Home Assistant.
    configs = discovery.json_by_topic()
    assert any(SHIP_AS in topic and payloads[-1]["name"].startswith(SHIP_AS) for topic, payloads in configs.items())

    # Its online scores are the offline evaluation of the shipped file over the minutes after the reload.
    shipped = {m.name: m for m in load_models(assets, (SHIP_AS, f"{SHIP_AS}_linreg"))}
    series = Series.bundled(start=after.start, rows=len(load_measurements(BUNDLED)) - after.start)
    for name, model in shipped.items():
        offline = offline_metrics(model, series)
        online = metrics["models"][name]
        assert online["scored"] == offline["n"], name
        assert online["mse"] == pytest.approx(offline["mse"], rel=1e-9), name
        assert online["mae"] == pytest.approx(offline["mae"], rel=1e-9), name
    assert "house_res18_hour_dow_sm" in (tmp_path / "run" / "report.md").read_text()
