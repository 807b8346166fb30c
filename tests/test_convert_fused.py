"""The fused clone computes what the trained Keras model computes (before any conversion), so a fidelity figure
measures quantization only; and MACs are counted per layer as the issue defines them."""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402

from convert.cost import model_macs  # noqa: E402
from convert.fused import fused_clone  # noqa: E402
from device.contract import WindowSpec  # noqa: E402
from train.models import build_cnn_bilstm, build_seed_lstm  # noqa: E402


def _random_windows(spec: WindowSpec, n: int = 4) -> np.ndarray:
    return np.random.default_rng(0).random((n, spec.seq_len, spec.n_features), dtype=np.float32)


@pytest.mark.parametrize(
    "builder, features",
    [(build_seed_lstm, ("gap",)), (build_cnn_bilstm, ("gap", "grp", "v", "gi", "sm1", "sm2", "sm3"))],
)
def test_fused_clone_matches_the_keras_model(builder, features):
    spec = WindowSpec(seq_len=12, horizon=1, features=features)
    keras.utils.set_random_seed(0)
    model = builder(spec)
    clone = fused_clone(model)
    x = _random_windows(spec)
    expected = model.predict(x, verbose=0)[:, 0]
    got = np.array([clone(x[i : i + 1]).numpy()[0, 0] for i in range(len(x))])
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


def test_a_non_lstm_recurrent_layer_is_refused():
    model = keras.Sequential([keras.Input((10, 1)), keras.layers.GRU(3), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="GRU has no fused TFLite op"):
        fused_clone(model)


def test_seed_lstm_macs_are_t_times_4n_m_plus_n_per_layer_plus_the_head():
    model = build_seed_lstm(WindowSpec(seq_len=30, horizon=5, features=("gap",)))
    assert model_macs(model) == 3600 + 2880 + 3
