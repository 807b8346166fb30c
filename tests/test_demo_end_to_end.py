"""The whole loop: 2,000 held-out readings replayed at full speed to a real agent running the int8 LSTM and the
linear regression, through a real Mosquitto and through the embedded amqtt broker.

Every reading is accounted for, the agent's online MSE equals the offline MSE of the same windows (computed here by
the shared contract, the same predictors and the same error metrics), and the report has a row for every model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from device.contract import MIN_HISTORY, TARGET, feature_matrix, streaming_windows
from device.models.load import LoadedModel, load_models
from device.models.manifest import MANIFEST_NAME, load_manifest
from device.scoring import error_metrics
from simulator.brokers import MosquittoBroker
from simulator.demo import DemoConfig, DemoResult, run_demo
from simulator.embedded_broker import EmbeddedBroker
from simulator.replay import ReplayConfig, load_readings

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ASSETS = Path(__file__).resolve().parents[1] / "firmware_assets"
MODELS = ("lstm_int8", "linreg")
# 2,000 minutes of the held-out part of the bundled slice, without a gap, so every window is a plain one.
START, END = "2007-05-04T00:00", "2007-05-05T09:20"
READINGS = 2000


@pytest.fixture(scope="module")
def assets() -> Path:
    if not (ASSETS / MANIFEST_NAME).is_file():
        pytest.skip(f"no {MANIFEST_NAME} in {ASSETS}: run `python -m convert.quantize` first")
    missing = set(MODELS) - set(load_manifest(ASSETS).models)
    if missing:
        pytest.skip(f"{ASSETS}/{MANIFEST_NAME} lacks {sorted(missing)}")
    return ASSETS


@pytest.fixture(scope="module", params=["mosquitto", "embedded amqtt"])
def demo(request, assets, tmp_path_factory) -> DemoResult:
    """One demo run per broker, shared by the tests below (each run takes seconds, not minutes)."""
    out = tmp_path_factory.mktemp(request.param.replace(" ", "_"))
    config = dict(assets=assets, models=MODELS, start=START, end=END, out_dir=out, progress=False, drain_timeout_s=60)
    if request.param == "mosquitto":
        broker = MosquittoBroker(out / "broker").start()
        try:
            yield run_demo(DemoConfig(broker=broker.url, **config))
        finally:
            broker.stop()
    else:
        with EmbeddedBroker() as embedded:
            yield run_demo(DemoConfig(broker=embedded.url, mqtt_version="3.1.1", **config))


def offline_mse(model: LoadedModel, bundled_data: Path) -> float:
    """The host's streaming evaluation of the replayed minutes: same windows, same predictor, same metrics."""
    readings, _ = load_readings(ReplayConfig(data=bundled_data, start=START, end=END)).fill()
    spec, scaling = model.entry.window, model.scaling
    features = scaling.transform(feature_matrix(readings.values, readings.minutes, spec.features))
    x, y, end_rows = streaming_windows(features, scaling.transform_target(readings.values[TARGET]), spec)
    predicted = scaling.inverse_target(model.predictor.predict(x, np.minimum(end_rows + 1, spec.seq_len)))
    return float(error_metrics(predicted, readings.values[TARGET][end_rows + spec.horizon])["mse"])


def test_every_published_reading_is_acknowledged_and_received(demo):
    assert demo.replay.published == demo.replay.acknowledged == READINGS
    readings = demo.metrics["readings"]
    assert (readings["received"], readings["accepted"]) == (READINGS, READINGS)
    assert demo.metrics["rejected"] == {}


def test_every_model_predicts_every_reading_after_the_warm_up(demo, assets):
    manifest = load_manifest(assets)
    for name in MODELS:
        model = demo.metrics["models"][name]
        assert model["predictions"] == READINGS - (MIN_HISTORY - 1)
        # The last `horizon` predictions target minutes the replay never reached.
        assert model["scored"] == model["predictions"] - manifest.models[name].window.horizon


def test_online_mse_equals_the_offline_mse_of_the_same_windows(demo, assets, bundled_data):
    for model in load_models(assets, MODELS):
        assert demo.metrics["models"][model.name]["mse"] == pytest.approx(offline_mse(model, bundled_data), abs=1e-6)


def test_report_files_exist_and_the_table_has_every_model(demo):
    report = demo.report
    assert report.markdown.is_file() and report.json.is_file()
    assert all(path.is_file() for path in report.plots.values())
    table_rows = [
        line.split("|")[1].strip()
        for line in report.markdown.read_text().splitlines()
        if line.startswith("| ") and not line.startswith("| model")
    ]
    assert set(MODELS) <= set(table_rows)


def test_report_recommends_a_model_for_each_device_class(demo):
    text = demo.report.markdown.read_text()
    for device in ("Raspberry Pi 4B", "Cortex-M4F MCU"):
        line = next(line for line in text.splitlines() if line.startswith(f"- **{device}**"))
        assert any(f"**{name}**" in line for name in MODELS)
