"""A Keras 3 model as a fixed-shape TensorFlow function whose LSTMs the TFLite converter fuses.

TF 2.21's converter turns a Keras 3 LSTM into a ``WHILE`` loop (or fails), never into the builtin
``UNIDIRECTIONAL_SEQUENCE_LSTM`` a microcontroller runtime needs. It still fuses one thing: a function carrying the
attribute ``api_implements="lstm_<id>"`` with the signature Keras 2 used (inputs, init_h, init_c, kernel,
recurrent_kernel, bias) -> (last_output, outputs, new_h, new_c, runtime), over fixed shapes.

Of the two routes that work we take this one (wrap each LSTM's math in such a function, inside a clone of the Keras
3 model) rather than a ``tf_keras`` (Keras 2) twin: it needs no extra package, and every other layer (Conv1D,
pooling, Add, slicing of the search models) is traced by Keras 3 itself, so any functional model converts without
a hand-written twin. Weights enter as constants: the converter crashes on ``tf.Variable`` arguments to the fused
function and leaves ``READ_VARIABLE`` ops for the other layers.

Imports TensorFlow: run it in a child process (:mod:`convert.isolated`).
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402


def _lstm_math(go_backwards: bool):
    """The Keras LSTM recurrence (gates i, f, c, o; sigmoid/tanh) for TensorFlow-side execution.

    The converter replaces this body by the fused op, so it only has to be right when TensorFlow runs it.
    """

    def lstm(inputs, init_h, init_c, kernel, recurrent_kernel, bias):
        seq = tf.transpose(inputs, [1, 0, 2])
        if go_backwards:
            seq = tf.reverse(seq, [0])

        def step(carry, x_t):
            h, c = carry[0], carry[1]
            z = tf.matmul(x_t, kernel) + tf.matmul(h, recurrent_kernel) + bias
            i, f, g, o = tf.split(z, 4, axis=1)
            c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
            return tf.stack([tf.sigmoid(o) * tf.tanh(c), c])

        states = tf.scan(step, seq, initializer=tf.stack([init_h, init_c]))
        outputs = tf.transpose(states[:, 0], [1, 0, 2])
        return outputs[:, -1], outputs, states[-1, 0], states[-1, 1], tf.constant(0.0)

    return lstm


def fusable_lstm_function(api_id: str, go_backwards: bool) -> tf.types.experimental.GenericFunction:
    """The Keras-2-style function the converter recognises by its ``api_implements`` attribute."""
    attributes = {
        "api_implements": f"lstm_{api_id}",
        "api_preferred_device": "CPU",
        "time_major": False,
        "go_backwards": go_backwards,
    }
    return tf.function(_lstm_math(go_backwards), experimental_attributes=attributes, autograph=False)


def _check_standard(layer: keras.layers.LSTM) -> None:
    """The fused op computes exactly the default LSTM: refuse anything else rather than convert it wrongly."""
    config = layer.get_config()
    wrong = {
        k: config[k] for k, v in (("activation", "tanh"), ("recurrent_activation", "sigmoid")) if config.get(k) != v
    }
    if wrong or not config.get("use_bias", True) or config.get("stateful"):
        raise ValueError(f"{layer.name}: only tanh/sigmoid LSTMs with bias fuse; got {wrong or config}")


class FusedLSTM(keras.layers.Layer):
    """Stands in for a trained ``keras.layers.LSTM`` (or one direction of a Bidirectional) at batch 1."""

    def __init__(self, layer: keras.layers.LSTM, api_id: str, go_backwards: bool = False) -> None:
        super().__init__(name=f"{layer.name}_fused")
        _check_standard(layer)
        kernel, recurrent, bias = (w.numpy() for w in layer.weights)
        self._weights = tuple(tf.constant(w) for w in (kernel, recurrent, bias))
        self._units = layer.units
        self._return_sequences = layer.return_sequences
        self._fn = fusable_lstm_function(api_id, go_backwards or layer.go_backwards)

    def call(self, x, mask=None):
        zeros = tf.zeros((1, self._units))
        last, outputs, *_ = self._fn(x, zeros, zeros, *self._weights)
        return outputs if self._return_sequences else last


class FusedBidirectional(keras.layers.Layer):
    """Keras' Bidirectional(LSTM) with concat merge: a forward and a go-backwards fused LSTM."""

    def __init__(self, layer: keras.layers.Bidirectional, api_id: str) -> None:
        super().__init__(name=f"{layer.name}_fused")
        if layer.merge_mode != "concat":
            raise ValueError(f"{layer.name}: only merge_mode='concat' is converted, got {layer.merge_mode!r}")
        self._forward = FusedLSTM(layer.forward_layer, f"{api_id}_fw")
        self._backward = FusedLSTM(layer.backward_layer, f"{api_id}_bw", go_backwards=True)
        self._return_sequences = layer.return_sequences

    def call(self, x, mask=None):
        backward = self._backward(x)
        if self._return_sequences:  # Keras returns the backward sequence in forward time order
            backward = tf.reverse(backward, [1])
        return tf.concat([self._forward(x), backward], axis=-1)


def fused_clone(model: keras.Model) -> keras.Model:
    """A batch-1 clone of ``model`` in which every LSTM / Bidirectional(LSTM) is a fusable function."""
    count = 0

    def replace(layer: keras.layers.Layer) -> keras.layers.Layer:
        nonlocal count
        if isinstance(layer, keras.layers.Bidirectional) and isinstance(layer.forward_layer, keras.layers.LSTM):
            count += 1
            return FusedBidirectional(layer, f"{count}_{layer.name}")
        if isinstance(layer, keras.layers.LSTM):
            count += 1
            return FusedLSTM(layer, f"{count}_{layer.name}")
        if isinstance(layer, keras.layers.RNN):
            raise ValueError(f"{layer.name}: {type(layer).__name__} has no fused TFLite op")
        return layer  # shared, weights included; frozen to constants by serving_function

    inputs = keras.Input(model.input_shape[1:], batch_size=1)
    return keras.models.clone_model(model, clone_function=replace, input_tensors=inputs)


def serving_function(model: keras.Model) -> tuple[tf.types.experimental.ConcreteFunction, tf.Module]:
    """The concrete function to convert and the ``tf.Module`` to pass with it.

    Without the module the converter inlines the function and the fusion is lost; ``stateless_call`` with constant
    values turns the non-LSTM layers' variables into constants as well.
    """
    clone = fused_clone(model)
    trainable = [tf.constant(v.numpy()) for v in clone.trainable_variables]
    non_trainable = [tf.constant(v.numpy()) for v in clone.non_trainable_variables]
    module = tf.Module()
    module.model = clone
    module.serve = tf.function(
        lambda x: clone.stateless_call(trainable, non_trainable, x, training=False)[0],
        input_signature=[tf.TensorSpec((1, *model.input_shape[1:]), tf.float32)],
    )
    return module.serve.get_concrete_function(), module
