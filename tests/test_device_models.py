"""Loading models from the manifest: hashes checked first, the int8 tensor arithmetic, the runtime order."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from device.contract import WindowSpec, window_rows
from device.models.families import entry_from_dict, family
from device.models.families.tflite import TensorInfo, dequantize, interpreter_class, quantize
from device.models.kinds import ModelKind
from device.models.load import load_models
from device.models.manifest import AssetIntegrityError, sha256_of
from tests.device_assets import Series, build_assets


@pytest.fixture
def assets(tmp_path) -> Path:
    return build_assets(tmp_path / "assets", Series.bundled(rows=2000))


def test_a_tampered_model_file_is_refused_naming_the_file_and_both_hashes(assets):
    expected = json.loads((assets / "manifest.json").read_text())["files"]["linreg.json"]["sha256"]
    coefficients = json.loads((assets / "linreg.json").read_text())
    coefficients["intercept"] += 0.001
    (assets / "linreg.json").write_text(json.dumps(coefficients))
    with pytest.raises(AssetIntegrityError) as refused:
        load_models(assets, ("linreg",))
    message = str(refused.value)
    assert "linreg.json" in message and expected in message and sha256_of(assets / "linreg.json") in message


def test_a_model_missing_from_the_manifest_is_refused_by_name(assets):
    with pytest.raises(KeyError, match="lstm_int8"):
        load_models(assets, ("lstm_int8",))


def test_models_report_their_file_bytes(assets):
    (linreg, persistence) = load_models(assets, ("linreg", "persistence"))
    assert linreg.flash_bytes == (assets / "linreg.json").stat().st_size
    assert persistence.flash_bytes == 0


def test_int8_quantization_uses_the_tensor_scale_and_zero_point_and_saturates():
    info = TensorInfo((1, 3), "int8", scale=0.5, zero_point=-10)
    q = quantize(np.array([0.0, 1.0, 1000.0]), info)
    assert q.dtype == np.int8 and q.tolist() == [-10, -8, 127]
    assert dequantize(q, info).tolist() == [0.0, 1.0, 68.5]


def test_the_light_runtime_is_chosen_first():
    _, name = interpreter_class("auto")
    assert name == "litert"


def test_an_unknown_runtime_is_refused():
    with pytest.raises(ValueError, match="unknown runtime"):
        interpreter_class("onnx")


REAL_ASSETS = Path(__file__).resolve().parents[1] / "firmware_assets"


@pytest.mark.skipif(not (REAL_ASSETS / "manifest.json").is_file(), reason="firmware_assets/ not converted yet")
def test_the_tflm_runtime_runs_the_int8_lstm_in_its_measured_arena_and_agrees_with_litert():
    pytest.importorskip("tflite_micro", reason="tflite-micro has no wheel for this platform")
    (micro,) = load_models(REAL_ASSETS, ("lstm_int8",), runtime="tflm")
    (lite,) = load_models(REAL_ASSETS, ("lstm_int8",), runtime="litert")
    assert micro.runtime == "tflm" and micro.arena_bytes == micro.entry.arena_bytes
    series = Series.bundled(rows=500)
    scaled = micro.scaling.transform(series.raw[:, [0]])
    seq_len = micro.entry.window.seq_len
    windows = window_rows(scaled, np.arange(seq_len - 1, len(scaled)), seq_len)
    n_real = np.full(len(windows), seq_len)
    steps = np.abs(micro.predictor.predict(windows, n_real) - lite.predictor.predict(windows, n_real))
    steps /= micro.entry.output.scale
    # The converter measured TFLM against LiteRT for this model at max 3 output steps, 99.85% within 2 (README).
    assert steps.max() <= 4 and (steps <= 2.01).mean() >= 0.98


def test_every_model_kind_has_the_family_its_member_names():
    for kind in ModelKind:
        assert family(kind).kind is kind


def test_an_unknown_kind_is_refused_naming_the_known_ones():
    with pytest.raises(ValueError, match="unknown model kind 'onnx'.*trend_line"):
        family("onnx")


def test_a_family_entry_round_trips_through_the_manifest_json():
    tflite = family(ModelKind.TFLITE).entry(
        name="m",
        window=WindowSpec(),
        file="m.tflite",
        macs=7,
        input=TensorInfo((1, 30, 1), "int8", 0.5, -3),
        output=TensorInfo((1, 1), "int8", 0.25, 1),
    )
    trend = family(ModelKind.TREND_LINE).entry(name="t", window=WindowSpec(), k=6)
    for entry in (tflite, trend):
        assert entry_from_dict(json.loads(json.dumps(entry.to_dict()))) == entry
    assert trend.macs == 12


def test_a_format_1_manifest_loads_with_its_trend_kind_renamed(assets):
    document = json.loads((assets / "manifest.json").read_text())
    document["format_version"] = 1
    document["models"]["trend_line"]["kind"] = "trend"
    (assets / "manifest.json").write_text(json.dumps(document))
    (trend,) = load_models(assets, ("trend_line",))
    assert trend.entry.kind is ModelKind.TREND_LINE
