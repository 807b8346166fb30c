"""The reference networks' shapes and sizes, and reproducible training (same data and seed -> same bytes)."""

from __future__ import annotations

import numpy as np
import pytest

from device.contract import MEASUREMENTS, WindowSpec
from train.config import MODEL_FEATURES
from train.fit import FitSettings, train_keras_model
from train.models import build_augmented_lstm, build_cnn_bilstm, build_seed_lstm

pytestmark = pytest.mark.slow  # trains every reference network

SPEC = WindowSpec(30, 5)


def test_seed_lstm_is_the_notebooks_252_parameter_model():
    model = build_seed_lstm(SPEC)
    assert model.input_shape == (None, 30, 1) and model.output_shape == (None, 1)
    assert [layer.__class__.__name__ for layer in model.layers[1:]] == ["LSTM", "Dropout", "LSTM", "Dropout", "Dense"]
    assert model.count_params() == 252


def test_augmented_lstm_stacks_50_25_10_units_on_three_features():
    model = build_augmented_lstm(WindowSpec(30, 5, MODEL_FEATURES["augmented_lstm"]))
    assert model.input_shape == (None, 30, 3)
    assert [layer.units for layer in model.layers if layer.__class__.__name__ == "LSTM"] == [50, 25, 10]


def test_cnn_bilstm_follows_le_et_al_table_2_on_all_seven_measurements():
    model = build_cnn_bilstm(WindowSpec(30, 5, MEASUREMENTS))
    assert model.input_shape == (None, 30, 7)
    assert [layer.__class__.__name__ for layer in model.layers[1:]] == [
        "Conv1D",
        "MaxPooling1D",
        "Conv1D",
        "MaxPooling1D",
        "Bidirectional",
        "Bidirectional",
        "Dense",
        "Dropout",
        "Dense",
    ]


def test_cnn_bilstm_refuses_windows_its_pooling_would_empty():
    with pytest.raises(ValueError, match="seq_len >= 7"):
        build_cnn_bilstm(WindowSpec(6, 1, MEASUREMENTS))


@pytest.fixture(scope="module")
def tiny_windows():
    rng = np.random.default_rng(0)
    x = rng.random((300, 30, 1), dtype=np.float32)
    return x, (x[:, -1, 0] * 0.9).astype(np.float32)


def fit_twice(tmp_path, tiny_windows):
    settings = FitSettings(learning_rate=0.01, epochs=2, batch_size=50, patience=10, seed=7)
    return [
        train_keras_model("seed_lstm", SPEC, *tiny_windows, settings, tmp_path / f"run{k}" / "m.keras") for k in (1, 2)
    ]


def test_same_data_and_seed_give_byte_identical_weights(tmp_path, tiny_windows):
    first, second = fit_twice(tmp_path, tiny_windows)
    assert first.loss == second.loss
    for a, b in zip(first.model.get_weights(), second.model.get_weights()):
        assert a.tobytes() == b.tobytes()


def test_training_returns_the_best_checkpoint_not_the_last_epoch(tmp_path, tiny_windows):
    settings = FitSettings(learning_rate=0.01, epochs=3, batch_size=50, patience=10, validation_split=0.05)
    fit = train_keras_model("seed_lstm", SPEC, *tiny_windows, settings, tmp_path / "seed.keras")
    assert fit.checkpoint.is_file() and fit.epochs_run == 3
    x, y = tiny_windows
    tail_loss = fit.model.evaluate(x[-15:], y[-15:], verbose=0)  # Keras validates on the last 5%: 15 of 300
    assert tail_loss == pytest.approx(min(fit.val_loss), rel=1e-5)


def test_a_time_budget_stops_training_before_an_epoch_that_would_end_past_it(tmp_path, tiny_windows):
    settings = FitSettings(learning_rate=0.01, epochs=5, batch_size=50, patience=10, max_seconds=1e-6)
    fit = train_keras_model("seed_lstm", SPEC, *tiny_windows, settings, tmp_path / "bounded.keras")
    assert fit.epochs_run == 1  # the first epoch always runs; the second would end past a microsecond
    unbounded = FitSettings(learning_rate=0.01, epochs=2, batch_size=50, patience=10)
    assert train_keras_model("seed_lstm", SPEC, *tiny_windows, unbounded, tmp_path / "free.keras").epochs_run == 2
