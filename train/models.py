"""Keras builders of the three reference networks, each exactly as its source describes it.

Every builder takes the :class:`~device.contract.WindowSpec` the model will be fed, so the input shape can never
disagree with the windows, and returns an uncompiled model (the learning rate lives in
:class:`train.config.TrainConfig`).
"""

from __future__ import annotations

import keras

from device.contract import WindowSpec

#: Shortest window the CNN-BiLSTM's two conv(2) + maxpool(2) stages leave at least one step of.
CNN_BILSTM_MIN_SEQ_LEN = 7


def _input(spec: WindowSpec) -> keras.KerasTensor:
    return keras.Input(shape=(spec.seq_len, spec.n_features), name="window")


def build_seed_lstm(spec: WindowSpec) -> keras.Model:
    """The seed notebook's model: LSTM(5, sequences) -> Dropout(0.2) -> LSTM(3) -> Dropout(0.2) -> Dense(1), linear
    output. Trained there with Adam lr 0.01 on MSE."""
    x = inputs = _input(spec)
    x = keras.layers.LSTM(5, return_sequences=True)(x)
    x = keras.layers.Dropout(0.2)(x)
    x = keras.layers.LSTM(3)(x)
    x = keras.layers.Dropout(0.2)(x)
    return keras.Model(inputs, keras.layers.Dense(1)(x), name="seed_lstm")


def build_augmented_lstm(spec: WindowSpec) -> keras.Model:
    """The notebook's augmented model: GAP, Voltage and Global_intensity through stacked LSTMs of 50, 25 and 10
    units (each followed by Dropout(0.2), as in the seed model) -> Dense(1). Adam lr 0.001."""
    x = inputs = _input(spec)
    for units, sequences in ((50, True), (25, True), (10, False)):
        x = keras.layers.LSTM(units, return_sequences=sequences)(x)
        x = keras.layers.Dropout(0.2)(x)
    return keras.Model(inputs, keras.layers.Dense(1)(x), name="augmented_lstm")


def build_cnn_bilstm(spec: WindowSpec) -> keras.Model:
    """Le et al. 2019 (Appl. Sci. 9(20):4237, "EECP-CBL", Table 2): Conv1D(64, 2, relu) -> MaxPool(2) ->
    Conv1D(64, 2, relu) -> MaxPool(2) -> BiLSTM(64, sequences) -> BiLSTM(64) -> Dense(128, relu) -> Dropout ->
    Dense(1), on all 7 measurements, Adam lr 0.001. The dropout rate (0.2) is our choice."""
    if spec.seq_len < CNN_BILSTM_MIN_SEQ_LEN:
        raise ValueError(f"the CNN-BiLSTM needs seq_len >= {CNN_BILSTM_MIN_SEQ_LEN}, got {spec.seq_len}")
    x = inputs = _input(spec)
    for _ in range(2):
        x = keras.layers.Conv1D(64, 2, activation="relu")(x)
        x = keras.layers.MaxPooling1D(2)(x)
    x = keras.layers.Bidirectional(keras.layers.LSTM(64, return_sequences=True))(x)
    x = keras.layers.Bidirectional(keras.layers.LSTM(64))(x)
    x = keras.layers.Dense(128, activation="relu")(x)
    x = keras.layers.Dropout(0.2)(x)
    return keras.Model(inputs, keras.layers.Dense(1)(x), name="cnn_bilstm")


BUILDERS = {"seed_lstm": build_seed_lstm, "augmented_lstm": build_augmented_lstm, "cnn_bilstm": build_cnn_bilstm}
