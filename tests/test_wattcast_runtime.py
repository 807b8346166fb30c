"""The agent's own runtime: the firmware's C source as a CPython extension, fed the shipped .tflite at load.

Its outputs equal tflite-micro's (the pip package's interpreter, state reset per window) bit for bit on held-out
windows of every int8 LSTM the project ships; the agent's forecaster on it predicts what it predicts on tflite-micro;
``auto`` prefers it and, when the extension did not build, falls back to LiteRT and says so.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from device.models.load import load_models
from device.models.manifest import SHIPPED_ASSETS
from device.models.wattcast_constants import UnsupportedModel, read_model
from device.models.wattcast_runtime import EXTENSION, WATTCAST, WattcastPredictor, compile_model, pack
from device.readings import Reading
from firmware.heldout import held_out_windows, reference_outputs
from simulator.brokers import find_binary
from tests.conftest import BUNDLED_DATA
from tests.device_assets import Series

#: Every shipped int8 LSTM stack with a dense head: the 2-layer seed LSTM, the MCU LSTM with its residual, and the
#: 3-layer augmented LSTM (50, 25, 10 units; the extension is built with room for it).
SUPPORTED = ("mcu_lstm_int8", "lstm_int8", "augmented_lstm_int8")
WINDOWS = 400


@pytest.fixture(scope="module", autouse=True)
def built_extension() -> None:
    """The tests need the extension `pip install -e .` (or `python setup.py build_ext --inplace`) builds: a machine
    without gcc skips them (fails under CI); with gcc, an unbuilt extension is a failure."""
    try:
        __import__(EXTENSION)
    except ImportError as exc:
        find_binary("gcc", "gcc")
        pytest.fail(f"the extension is not built ({exc}): run `python setup.py build_ext --inplace` or `make venv`")


def predictor(model: str) -> WattcastPredictor:
    (loaded,) = load_models(SHIPPED_ASSETS, (model,), runtime=WATTCAST)
    assert loaded.runtime == WATTCAST
    assert isinstance(loaded.predictor, WattcastPredictor)
    return loaded.predictor


@pytest.mark.parametrize("model", SUPPORTED)
def test_a_batch_of_400_held_out_windows_equals_tflite_micro_bit_for_bit(model):
    windows = held_out_windows(model, BUNDLED_DATA, WINDOWS)
    expected = reference_outputs(model, windows)
    assert np.unique(expected).size > 10  # the windows exercise the model, not one constant output
    np.testing.assert_array_equal(predictor(model).predict_q(windows.x_q), expected)


def test_one_window_a_call_gives_what_the_batch_gives():
    windows = held_out_windows("mcu_lstm_int8", BUNDLED_DATA, 50)
    own = predictor("mcu_lstm_int8")
    one_by_one = np.concatenate([own.predict_q(w[None]) for w in windows.x_q])
    np.testing.assert_array_equal(one_by_one, own.predict_q(windows.x_q))


def test_an_empty_batch_gives_no_outputs():
    own = predictor("lstm_int8")
    assert own.predict_q(np.zeros((0, 30, 1), np.int8)).shape == (0,)


def test_the_agents_forecaster_predicts_on_the_own_runtime_what_it_predicts_on_tflite_micro():
    """Two meters fed in batches of 64 readings (one model call per meter and batch), the same kW to the last bit."""
    from device.forecasting.forecaster import Forecaster

    series = Series.bundled(start=8000, rows=600)

    def forecasts(runtime: str) -> list[tuple[str, int, float]]:
        models = load_models(SHIPPED_ASSETS, ("mcu_lstm_int8", "lstm_int8"), runtime=runtime)
        assert {m.runtime for m in models} == {runtime}
        forecaster = Forecaster(models, max_gap_minutes=15)
        readings = [Reading(meter, int(m), raw) for m, raw in zip(series.minutes, series.raw) for meter in ("a", "b")]
        out = []
        for start in range(0, len(readings), 64):
            for step in forecaster.process_batch(readings[start : start + 64]):
                out += [(p.meter + p.model, p.minute, p.predicted_kw) for p in step.predictions]
        return out

    own = forecasts(WATTCAST)
    assert len(own) > 2 * 2 * 500
    assert own == forecasts("tflm")


def test_auto_runs_the_int8_lstms_on_the_own_runtime_and_the_rest_elsewhere():
    models = {m.name: m for m in load_models(SHIPPED_ASSETS, ("mcu_lstm_int8", "cnn_bilstm_int8", "linreg"))}
    assert models["mcu_lstm_int8"].runtime == WATTCAST
    assert models["mcu_lstm_int8"].runtime_note is None
    assert models["cnn_bilstm_int8"].runtime == "litert"
    assert "not an LSTM stack with a dense head" in models["cnn_bilstm_int8"].runtime_note
    assert models["linreg"].runtime == "numpy"


def test_auto_without_the_extension_falls_back_to_litert_and_says_so(monkeypatch, caplog):
    monkeypatch.setitem(sys.modules, EXTENSION, None)  # what a failed build leaves: the import fails
    with caplog.at_level(logging.WARNING):
        (model,) = load_models(SHIPPED_ASSETS, ("mcu_lstm_int8",))
    assert model.runtime == "litert"
    assert "C extension is not built" in model.runtime_note
    assert any("falling back to LiteRT" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)
    windows = held_out_windows("mcu_lstm_int8", BUNDLED_DATA, 5)
    assert model.predictor.predict(windows.x, np.full(5, 30)).shape == (5,)


def test_the_metrics_report_each_models_runtime_and_why_it_fell_back(monkeypatch):
    from device.forecasting.forecaster import Forecaster
    from device.io.metrics import AgentMetrics

    monkeypatch.setitem(sys.modules, EXTENSION, None)
    models = load_models(SHIPPED_ASSETS, ("mcu_lstm_int8", "linreg"))
    snapshot = AgentMetrics("agent", Forecaster(models, max_gap_minutes=15), 100, 0).snapshot()["models"]
    assert snapshot["mcu_lstm_int8"]["runtime"] == "litert"
    assert "not built" in snapshot["mcu_lstm_int8"]["runtime_note"]
    assert (snapshot["linreg"]["runtime"], snapshot["linreg"]["runtime_note"]) == ("numpy", None)


def test_asking_for_the_own_runtime_without_the_extension_is_an_error(monkeypatch):
    monkeypatch.setitem(sys.modules, EXTENSION, None)
    with pytest.raises(ImportError, match="not built"):
        load_models(SHIPPED_ASSETS, ("mcu_lstm_int8",), runtime=WATTCAST)


def test_asking_for_the_own_runtime_for_a_model_it_does_not_run_is_an_error():
    with pytest.raises(UnsupportedModel):
        load_models(SHIPPED_ASSETS, ("lstm_float32",), runtime=WATTCAST)


def test_litert_is_not_imported_when_no_model_needs_it():
    code = textwrap.dedent(
        """
        import sys
        import numpy as np
        from device.models.load import load_models
        from device.models.manifest import SHIPPED_ASSETS
        models = load_models(SHIPPED_ASSETS, ("mcu_lstm_int8", "linreg"))
        models[0].predictor.predict(np.zeros((3, 30, 8)), np.full(3, 30))
        print(sorted(m.runtime for m in models), [k for k in ("ai_edge_litert", "tflite_runtime", "tensorflow")
              if k in sys.modules])
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['numpy', 'wattcast'] []"


def test_a_damaged_blob_is_refused_not_run():
    from device.models._wattcast_lstm import Model  # type: ignore[import-not-found]

    blob = pack(read_model("lstm_int8", (SHIPPED_ASSETS / "lstm_int8.tflite").read_bytes()))
    for damaged in (blob[:-4], blob + bytes(4), blob[:40], b""):
        with pytest.raises(ValueError):
            Model(damaged)


def test_windows_of_the_wrong_size_are_refused():
    model, _ = compile_model("lstm_int8", (SHIPPED_ASSETS / "lstm_int8.tflite").read_bytes())
    with pytest.raises(ValueError, match="multiple of 30"):
        model.predict(bytes(31))
    with pytest.raises(ValueError, match="1-byte items"):
        model.predict(np.zeros((1, 30, 1), np.int16))
