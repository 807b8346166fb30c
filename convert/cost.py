"""Multiply-accumulates per inference, counted from a Keras model's layers and shapes.

MACs are what an MCU's time and energy scale with; counting them from the layers (not the flatbuffer) gives the
same figure for the float and the int8 file, as it should.
"""

from __future__ import annotations

import math

import keras


def _lstm_macs(layer: keras.layers.LSTM, input_shape: tuple) -> int:
    """T steps x 4 gates x n units x (m inputs + n recurrent)."""
    steps, m = int(input_shape[-2]), int(input_shape[-1])
    n = layer.units
    return steps * 4 * n * (m + n)


def layer_macs(layer: keras.layers.Layer) -> int:
    """MACs of one layer at batch 1; layers without multiplications (pooling, dropout, add) count 0."""
    if not hasattr(layer, "input") or isinstance(layer, keras.layers.InputLayer):
        return 0
    if isinstance(layer.input, (list, tuple)):  # merging layers (the residual's Add): additions only
        return 0
    shape = tuple(layer.input.shape)
    if isinstance(layer, keras.layers.Bidirectional):
        return _lstm_macs(layer.forward_layer, shape) + _lstm_macs(layer.backward_layer, shape)
    if isinstance(layer, keras.layers.LSTM):
        return _lstm_macs(layer, shape)
    if isinstance(layer, keras.layers.Dense):
        return math.prod(int(d) for d in shape[1:-1]) * int(shape[-1]) * layer.units
    if isinstance(layer, keras.layers.Conv1D):
        out_steps = int(layer.output.shape[1])
        return out_steps * layer.kernel_size[0] * int(shape[-1]) * layer.filters
    return 0


def model_macs(model: keras.Model) -> int:
    return sum(layer_macs(layer) for layer in model.layers)
