"""One trained Keras model to one TFLite flatbuffer, in one quantization mode, in a child process.

Modes (``MODES``): ``float32`` (the fused graph as is), ``int8`` (full integer: int8 weights, activations, input and
output, calibrated on training windows), ``dynamic`` (int8 weights, float activations), ``float16`` (float16
weights) and ``int16x8`` (int16 activations; TF 2.21 refuses it for the fused LSTM and the error says so).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from convert.isolated import ChildCrashed, run_isolated

log = logging.getLogger(__name__)

MODES = ("float32", "int8", "dynamic", "float16", "int16x8")


class ConversionFailed(RuntimeError):
    """The converter refused the model or crashed; the message says which model, which mode and why."""


def _configure(converter, mode: str, calibration: np.ndarray) -> None:
    import tensorflow as tf

    if mode == "float32":
        return
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if mode in ("int8", "int16x8"):
        converter.representative_dataset = lambda: ([w[None]] for w in calibration)
        # The MLIR quantizer (the default) leaves the LSTM's intermediate tensors unquantized: LiteRT then computes
        # garbage (int8 task MSE x7 measured) while TFLM does not. The older quantizer gives one file both run alike.
        converter.experimental_new_quantizer = False
    if mode == "int8":
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    if mode == "int16x8":
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8
        ]


def convert_in_this_process(keras_path: Path, mode: str, calibration: np.ndarray) -> bytes:
    """Load, clone with fused LSTMs, convert. Imports TensorFlow; prefer :func:`convert_model`."""
    import keras
    import tensorflow as tf

    from convert.fused import serving_function

    keras.utils.set_random_seed(0)
    model = keras.saving.load_model(keras_path, compile=False)
    function, module = serving_function(model)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], module)
    _configure(converter, mode, np.asarray(calibration, np.float32))
    return bytes(converter.convert())


def convert_model(keras_path: Path, mode: str, calibration: np.ndarray) -> bytes:
    """The flatbuffer bytes, converted in a child process; raises :class:`ConversionFailed` on refusal or crash."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; choose from {MODES}")
    what = f"{Path(keras_path).name} -> {mode}"
    try:
        return run_isolated(what, convert_in_this_process, Path(keras_path), mode, calibration)
    except ChildCrashed as exc:
        raise ConversionFailed(str(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - any converter error becomes one clear message
        last_line = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        raise ConversionFailed(f"{what}: the converter refused it: {last_line}") from exc
