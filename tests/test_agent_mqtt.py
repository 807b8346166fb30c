"""The agent against a real Mosquitto: readings in, predictions out, everything counted, nothing heavy imported."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from device.agent import Agent
from device.config import AgentConfig
from device.contract import MEASUREMENTS
from device.mqtt.settings import BrokerSettings
from device.wire import encode_reading, timestamps
from tests.collector import Collector
from tests.device_assets import TFLITE_MODELS, Series, build_assets, build_assets_in_child, offline_metrics

pytestmark = pytest.mark.broker

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 15.0


@pytest.fixture(scope="module")
def assets(tmp_path_factory) -> Path:
    return build_assets(tmp_path_factory.mktemp("assets"), Series.bundled())


@pytest.fixture(scope="module")
def series() -> Series:
    return Series.bundled(start=8500, rows=400)  # runs into the file's nulls


def publisher(port: int) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"meter-sim-{time.monotonic_ns()}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def send(client: mqtt.Client, series: Series, meter: str = "m1") -> int:
    info = None
    for ts, raw in zip(timestamps(series.minutes), series.raw):
        info = client.publish(f"meter/{meter}/reading", encode_reading(str(ts), dict(zip(MEASUREMENTS, raw))), qos=1)
    info.wait_for_publish(TIMEOUT_S)
    return len(series)


def wait_for(predicate, what: str) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.02)


def wait_online(broker, agent_id: str) -> None:
    """Until the agent's retained status says online: it subscribes before it says so, on the same connection."""
    status = Collector(BrokerSettings(broker.url), [f"devices/{agent_id}/status"])
    wait_for(lambda: b"online" in status.payloads(f"devices/{agent_id}/status"), f"{agent_id} online")
    status.close()


def start_agent(broker, assets: Path, tmp_path: Path, **options) -> Agent:
    config = AgentConfig(
        broker=broker.url,
        assets=assets,
        agent_id="pi01",
        metrics_file=tmp_path / "metrics.json",
        predictions_file=tmp_path / "predictions.csv",
        tracemalloc_readings=0,
        **options,
    )
    agent = Agent(config).start()
    wait_for(lambda: agent.link.counters["connects"] == 1, "the agent to connect")
    return agent


def test_every_reading_gives_one_prediction_per_model_on_the_prediction_topic(mosquitto, assets, series, tmp_path):
    collector = Collector(BrokerSettings(mosquitto.url), ["devices/pi01/prediction"])
    agent = start_agent(mosquitto, assets, tmp_path, models=("linreg", "persistence"))
    sent = send(publisher(mosquitto.port), series)
    wait_for(lambda: len(collector.payloads("devices/pi01/prediction")) == 2 * (sent - 1), "the predictions")
    agent.stop()
    first = json.loads(collector.payloads("devices/pi01/prediction")[0])
    assert first["meter"] == "m1" and first["model"] in ("linreg", "persistence")
    assert first["ts"] == str(timestamps(series.minutes[1:2])[0])
    assert first["target_ts"] == str(timestamps(series.minutes[1:2] + 5)[0])
    assert isinstance(first["predicted_kw"], float)


def test_every_reading_is_accounted_for_with_duplicates_and_bad_payloads_counted(mosquitto, assets, series, tmp_path):
    agent = start_agent(mosquitto, assets, tmp_path, models=("persistence",))
    client = publisher(mosquitto.port)
    sent = send(client, series)
    send(client, Series(series.minutes[:30], series.raw[:30]))  # QoS 1 resends, hours later: 30 duplicates
    for payload in (b"{oops", b"\xff\xfe", b"[]", b'{"ts": "2007-04-22T00:00:00", "gap": "high"}', b"x" * 10_000):
        client.publish("meter/m1/reading", payload, qos=1)
    client.publish("meter/m1/other/reading", b"{}", qos=1).wait_for_publish(TIMEOUT_S)
    wait_for(lambda: agent.intake.counters["wattcast"]["messages"] == sent + 30 + 5, "every message")
    snapshot = agent.stop()
    readings = snapshot["readings"]
    assert readings["accepted"] == sent
    assert readings["duplicates"] == 30
    assert readings["null_values"] == int(np.isnan(series.raw).sum()) + int(np.isnan(series.raw[:30]).sum())
    assert snapshot["rejected"] == {"not_json": 1, "not_utf8": 1, "not_an_object": 1, "bad_value": 1, "too_large": 1}
    assert readings["received"] == readings["accepted"] + readings["duplicates"] + readings["late"] + sum(
        snapshot["rejected"].values()
    )


def test_online_scores_over_mqtt_equal_the_offline_evaluation(mosquitto, assets, series, tmp_path):
    agent = start_agent(mosquitto, assets, tmp_path, models=("linreg", "trend_line"))
    sent = send(publisher(mosquitto.port), series)
    wait_for(lambda: agent.metrics.readings["accepted"] == sent, "every reading")
    snapshot = agent.stop()
    for model in agent.forecaster.models:
        offline = offline_metrics(model, series)
        online = snapshot["models"][model.name]
        assert online["scored"] == offline["n"]
        assert online["mse"] == pytest.approx(offline["mse"], abs=1e-6)
        assert snapshot["meters"]["m1"][model.name]["mae"] == pytest.approx(offline["mae"], abs=1e-6)


def test_the_files_hold_the_metrics_schema_and_every_prediction(mosquitto, assets, series, tmp_path):
    agent = start_agent(mosquitto, assets, tmp_path, models=("linreg",))
    sent = send(publisher(mosquitto.port), series)
    wait_for(lambda: agent.metrics.readings["accepted"] == sent, "every reading")
    agent.stop()
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    model = metrics["models"]["linreg"]
    assert set(metrics) >= {"agent_id", "uptime_s", "readings", "rejected", "process", "models", "meters"}
    assert set(model["latency_us"]) == {"p50", "p95", "p99", "max"} and model["latency_us"]["p50"] > 0
    assert model["flash_bytes"] == (agent.config.assets / "linreg.json").stat().st_size
    assert model["energy"]["pi4b"]["time_measured"] and model["energy"]["pi4b"]["estimated"]
    assert metrics["process"]["peak_rss_bytes"] >= metrics["process"]["rss_bytes"] > 0
    rows = (tmp_path / "predictions.csv").read_text().splitlines()
    assert rows[0] == "meter,model,ts,target_ts,predicted,actual"
    assert len(rows) - 1 == sent - 1
    assert sum(1 for r in rows[1:] if not r.endswith(",")) == model["scored"]


def test_status_is_retained_online_and_offline_after_stop(mosquitto, assets, tmp_path):
    agent = start_agent(mosquitto, assets, tmp_path, models=("persistence",))
    agent.stop()
    late = Collector(
        BrokerSettings(mosquitto.url), ["devices/pi01/status"]
    )  # subscribes after the fact: sees the retained one
    wait_for(lambda: late.messages, "the retained status")
    assert late.messages[-1][1:] == (b"offline", True)


def test_home_assistant_discovery_configs_are_retained_and_complete(mosquitto, assets, series, tmp_path):
    agent = start_agent(mosquitto, assets, tmp_path, models=("linreg",))
    send(publisher(mosquitto.port), Series(series.minutes[:3], series.raw[:3]))
    wait_for(lambda: agent.metrics.readings["accepted"] == 3, "the readings")
    agent.stop()
    configs = Collector(BrokerSettings(mosquitto.url), ["homeassistant/sensor/pi01/+/config"])
    wait_for(lambda: len(configs.messages) == 3, "three discovery configs")
    by_topic = {t: json.loads(p) for t, p, _ in configs.messages}
    power = by_topic["homeassistant/sensor/pi01/m1_linreg_predicted/config"]
    assert power["device_class"] == "power" and power["unit_of_measurement"] == "kW"
    assert power["availability_topic"] == "devices/pi01/status"
    assert power["default_entity_id"] == "sensor." + power["object_id"]  # object_id for HA before 2025.10
    assert {"unique_id", "device", "origin", "state_topic", "value_template"} <= set(power)
    assert all(retained for _, _, retained in configs.messages)


def test_a_broker_down_at_start_is_not_fatal(mosquitto, assets, series, tmp_path):
    mosquitto.stop()
    config = AgentConfig(
        broker=mosquitto.url, assets=assets, agent_id="pi01", models=("persistence",), tracemalloc_readings=0
    )
    agent = Agent(config).start()
    time.sleep(0.5)
    mosquitto.start()
    wait_for(lambda: agent.link.counters["connects"] == 1, "the agent to connect once the broker is up")
    send(publisher(mosquitto.port), Series(series.minutes[:10], series.raw[:10]))
    wait_for(lambda: agent.metrics.readings["accepted"] == 10, "the readings")
    assert agent.stop()["models"]["persistence"]["predictions"] == 9


BLOCK_HEAVY_IMPORTS = """
import importlib.abc, sys
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('tensorflow', 'pandas', 'keras', 'train', 'convert'):
            raise ImportError(f'the device agent must not import {name}')
        return None
sys.meta_path.insert(0, _Block())
"""


def accepted_in(metrics_file: Path) -> int:
    """Readings accepted by an agent process, by its metrics file (0 before the first write)."""
    try:
        return json.loads(metrics_file.read_text())["readings"]["accepted"]
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


@pytest.mark.slow  # builds TFLite assets with TensorFlow in a child process
def test_the_agent_script_runs_tflite_models_without_tensorflow_or_pandas(mosquitto, tmp_path_factory, series):
    tflite_assets = build_assets_in_child(tmp_path_factory.mktemp("tflite_assets"))
    site = tmp_path_factory.mktemp("site")
    (site / "sitecustomize.py").write_text(BLOCK_HEAVY_IMPORTS)
    metrics = site / "metrics.json"
    env = {**os.environ, "PYTHONPATH": str(site)}
    command = [
        sys.executable,
        str(REPO / "device" / "agent.py"),
        "--broker",
        mosquitto.url,
        "--assets",
        str(tflite_assets),
        "--models",
        ",".join(TFLITE_MODELS),
        "--metrics-file",
        str(metrics),
        "--metrics-interval-s",
        "0.2",
    ]
    status = Collector(BrokerSettings(mosquitto.url), ["devices/pi01/status"])
    agent = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=site)
    try:
        wait_for(lambda: (b"online" in [p for _, p, _ in status.messages]) or agent.poll() is not None, "online")
        send(publisher(mosquitto.port), Series(series.minutes[:20], series.raw[:20]))
        wait_for(lambda: accepted_in(metrics) == 20 or agent.poll() is not None, "the readings")
    finally:
        agent.send_signal(signal.SIGTERM)
        _, stderr = agent.communicate(timeout=TIMEOUT_S)
    assert agent.returncode == 0, stderr.decode()[-2000:]
    snapshot = json.loads(metrics.read_text())
    assert {name: snapshot["models"][name]["predictions"] for name in TFLITE_MODELS} == {n: 19 for n in TFLITE_MODELS}


def test_the_agent_script_refuses_a_tampered_asset_and_exits_with_an_error(tmp_path, mosquitto):
    assets = build_assets(tmp_path / "assets", Series.bundled(rows=2000))
    (assets / "linreg.json").write_text((assets / "linreg.json").read_text().replace("{", "{ ", 1))
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "device" / "agent.py"),
            "--broker",
            mosquitto.url,
            "--assets",
            str(assets),
            "--models",
            "linreg",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "linreg.json: sha256 mismatch" in done.stderr


def test_a_busy_agent_is_sent_no_more_than_its_receive_maximum_unacknowledged(mosquitto, assets, tmp_path):
    config = AgentConfig(
        broker=mosquitto.url,
        assets=assets,
        models=("persistence",),
        agent_id="busy",
        receive_maximum=300,
        state_max_unacked=100,
        ha_discovery=False,
        tracemalloc_readings=0,
    )
    agent = Agent(config)
    agent.link.start()  # connected and subscribed, but its worker never runs: nothing is handled or acknowledged
    try:
        wait_online(mosquitto, "busy")
        client = publisher(mosquitto.port)
        send(client, Series.bundled(rows=2000))
        wait_for(lambda: agent.pending_messages() >= 300, "the first 300 readings")
        # A barrier instead of a wait: the broker took all 2,000 before send() returned, and answers a SUBSCRIBE on
        # the agent's own connection after whatever it sent there first; had it ignored the limit, every reading
        # would be in the inbox before the SUBACK.
        suback = threading.Event()
        agent.link._client.on_subscribe = lambda *_: suback.set()
        agent.link._client.subscribe("barrier/none", qos=1)
        assert suback.wait(TIMEOUT_S)
        assert agent.pending_messages() == 300  # the inbox is bounded however large the backlog at the broker
        client.disconnect()
    finally:
        agent.link.stop()


def test_batched_predictions_carry_the_same_forecasts_in_fewer_messages(mosquitto, assets, series, tmp_path):
    collector = Collector(BrokerSettings(mosquitto.url), ["devices/pi01/prediction", "devices/pi01/predictions"])
    agent = start_agent(mosquitto, assets, tmp_path, models=("linreg", "persistence"), batch_predictions=True)
    sent = send(publisher(mosquitto.port), series)
    wait_for(lambda: agent.metrics.readings["accepted"] == sent, "every reading")
    snapshot = agent.stop()
    wait_for(
        lambda: sum(len(json.loads(p)) for p in collector.payloads("devices/pi01/predictions")) == 2 * (sent - 1),
        "every prediction",
    )
    batches = [json.loads(p) for p in collector.payloads("devices/pi01/predictions")]
    collector.close()
    assert collector.payloads("devices/pi01/prediction") == []
    assert len(batches) <= sent  # one message per batch, however many forecasts it holds
    forecasts = [f for batch in batches for f in batch]
    assert {f["model"] for f in forecasts} == {"linreg", "persistence"}
    assert forecasts[0]["ts"] == str(timestamps(series.minutes[1:2])[0])
    assert snapshot["models"]["linreg"]["predictions"] == sent - 1


def test_a_slow_agent_holds_at_most_max_inbox_readings_and_still_takes_them_all(mosquitto, assets, tmp_path):
    config = AgentConfig(
        broker=mosquitto.url,
        assets=assets,
        models=("persistence",),
        agent_id="slow",
        max_inbox=200,
        ha_discovery=False,
        tracemalloc_readings=0,
    )
    agent = Agent(config)
    handle = agent._handle_batch
    agent._handle_batch = lambda batch: (time.sleep(0.002 * len(batch)), handle(batch))  # 500 readings/s at most
    agent.start()
    try:
        wait_online(mosquitto, "slow")
        client = publisher(mosquitto.port)
        sent = send(client, Series.bundled(rows=2000))
        peak = 0
        while agent.metrics.readings["accepted"] < sent:
            peak = max(peak, agent.pending_messages())
            time.sleep(0.005)
        client.disconnect()
    finally:
        snapshot = agent.stop()
    assert peak <= 200 + 1  # the message the network thread held when the inbox filled
    assert snapshot["inbox_waits"] > 0 and snapshot["readings"]["accepted"] == sent
