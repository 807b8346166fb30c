"""The generated linear-regression C: it builds with strict flags and agrees with the Python predictors on real
windows (Q15 bit-exact, float within 1e-5 relative, the ring-buffer forecast within the stated Q15 bound)."""

from __future__ import annotations

import ctypes
import json
import shutil
import subprocess

import numpy as np
import pytest

from convert.linreg_assets import write_linreg
from device.contract import WindowSpec
from device.models.families.linreg import LinearRegression, LinearRegressionQ15, read_document
from tests.conftest import BUNDLED_DATA
from train.artifacts import TrainedModel
from train.data import load_measurements, train_test_by_fraction
from train.windows import cut_windows

pytestmark = pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is not installed")
CFLAGS = ["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror"]
SPEC = WindowSpec(seq_len=30, horizon=5, features=("gap",))


@pytest.fixture(scope="module")
def linreg(tmp_path_factory):
    """linreg.json + C from a least-squares fit on the bundled data; test windows of the same data."""
    series, _ = load_measurements(BUNDLED_DATA).fill()
    train_rows, test_rows = train_test_by_fraction(len(series), 0.8)
    w = cut_windows(series, train_rows, test_rows, SPEC)
    model = LinearRegression.fit(SPEC, w.x_train, w.y_train)
    trained = TrainedModel("linreg", SPEC, w.scaling, w.x_train[:10], w.x_test, w.y_test, extra=model.to_dict())
    out = tmp_path_factory.mktemp("linreg")
    write_linreg(trained, out)
    return out, model, LinearRegressionQ15.from_float(model), w


@pytest.fixture(scope="module")
def library(linreg):
    out = linreg[0]
    lib = out / "liblinreg.so"
    subprocess.run([*CFLAGS, "-shared", "-fPIC", "-o", str(lib), str(out / "linreg.c"), "-lm"], check=True)
    c = ctypes.CDLL(str(lib))
    c.linreg_predict.restype = ctypes.c_float
    c.linreg_predict_q15.restype = ctypes.c_int32
    c.linreg_q15_from_scaled.restype = ctypes.c_int16
    c.linreg_q15_from_scaled.argtypes = [ctypes.c_double]
    c.linreg_forecast_kw.restype = ctypes.c_float
    c.linreg_forecast_kw_q15.restype = ctypes.c_float
    for fn in (c.linreg_forecast_kw, c.linreg_forecast_kw_q15):
        fn.argtypes = [ctypes.c_void_p, ctypes.c_uint32]
    return c


def _ptr(a: np.ndarray) -> ctypes.c_void_p:
    return a.ctypes.data_as(ctypes.c_void_p)


def test_linreg_c_compiles_with_strict_flags(linreg):
    out = linreg[0]
    result = subprocess.run(
        [*CFLAGS, "-c", "-o", str(out / "linreg.o"), str(out / "linreg.c")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_q15_c_is_bit_exact_with_python_on_every_test_window(linreg, library):
    _, _, fixed, w = linreg
    x_q = LinearRegressionQ15.quantize_input(w.x_test).reshape(len(w.x_test), -1)
    c_acc = np.array([library.linreg_predict_q15(_ptr(np.ascontiguousarray(row))) for row in x_q])
    assert len(c_acc) > 3000
    np.testing.assert_array_equal(c_acc, fixed.predict_q(w.x_test))


def test_c_input_quantizer_rounds_like_numpy(linreg, library):
    values = np.concatenate([linreg[3].x_test[:500].ravel(), [0.5 / 32767, 1.5 / 32767, -2.0, 2.0]])
    c_q = np.array([library.linreg_q15_from_scaled(float(v)) for v in values])
    np.testing.assert_array_equal(c_q, LinearRegressionQ15.quantize_input(values))


def test_float_c_matches_python_within_1e_5_relative(linreg, library):
    _, model, _, w = linreg
    x = w.x_test.reshape(len(w.x_test), -1).astype(np.float32)
    c_pred = np.array([library.linreg_predict(_ptr(np.ascontiguousarray(row))) for row in x])
    py_pred = model.predict(w.x_test, np.full(len(x), SPEC.seq_len))
    np.testing.assert_allclose(c_pred, py_pred, rtol=1e-5)


def _raw_ring(w, i: int, oldest: int) -> np.ndarray:
    """Window i's raw readings (kW) rotated into a ring whose oldest reading sits at ``oldest``."""
    raw = w.x_test[i, :, 0].astype(np.float64) * (w.scaling.data_max[0] - w.scaling.data_min[0]) + w.scaling.data_min[0]
    return np.ascontiguousarray(np.roll(raw.astype(np.float32), oldest)[:, None])


def test_ring_buffer_forecast_in_kw_matches_python_at_every_rotation(linreg, library):
    _, model, _, w = linreg
    expected = w.scaling.inverse_target(model.predict(w.x_test[:30], np.full(30, 30)))
    got = [library.linreg_forecast_kw(_ptr(_raw_ring(w, i, i)), i) for i in range(30)]
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_q15_ring_buffer_forecast_stays_within_the_stated_bound(linreg, library):
    _, model, fixed, w = linreg
    bound_kw = fixed.error_bound() * (w.scaling.target_max - w.scaling.target_min)
    expected = w.scaling.inverse_target(model.predict(w.x_test[:30], np.full(30, 30)))
    got = np.array([library.linreg_forecast_kw_q15(_ptr(_raw_ring(w, i, i)), i) for i in range(30)])
    assert np.max(np.abs(got - expected)) <= bound_kw


def test_linreg_json_holds_float_and_q15_parameters_the_device_loads(linreg):
    out, model, fixed, _ = linreg
    doc = json.loads((out / "linreg.json").read_text())
    assert WindowSpec.from_dict(doc["window"]) == SPEC and "seq_len" not in doc  # the window, stored once
    np.testing.assert_array_equal(read_document(out / "linreg.json").model.coef, model.coef)
    assert (doc["weights_q"], doc["bias_q"], doc["shift"]) == (fixed.weights_q.tolist(), fixed.bias_q, fixed.shift)
    assert set(doc["scaling"]) == {"data_min", "data_max", "target_min", "target_max"}
