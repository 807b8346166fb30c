"""The int8 LSTMs on the project's own C runtime: the CPython extension ``device.models._wattcast_lstm``, built by
``pip install`` from the firmware's sources (``setup.py``), fed the constants of the shipped ``.tflite`` at load.

The agent's ``--runtime wattcast`` runs a model here; ``auto`` prefers it for every model it supports and falls back
to LiteRT when the extension did not build (no C compiler at install time) or the model is not an LSTM stack with a
dense head. Its outputs equal tflite-micro's bit for bit (``tests/test_wattcast_runtime.py``), and it predicts many
windows in one call with the GIL released.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from device.contract import WindowSpec
from device.models.families.tflite import TensorInfo, dequantize, quantize
from device.models.wattcast_constants import CModel, FixedPoint, UnsupportedModel, read_model, unit_major

#: The runtime's name in ``--runtime`` and in the metrics.
WATTCAST = "wattcast"
EXTENSION = "device.models._wattcast_lstm"
#: The blob layout ``_wattcast_lstm.c`` reads (its BLOB_VERSION, HEADER_WORDS and LAYER_WORDS).
BLOB_VERSION = 1
_WORD = np.dtype("=i4")  # the machine's own byte order: the blob never leaves the process


def extension() -> ModuleType:
    """The compiled extension; ImportError (with pip's likely reason) when it was not built."""
    try:
        return importlib.import_module(EXTENSION)
    except ImportError as exc:
        raise ImportError(
            f"the wattcast C extension is not built ({exc}); reinstall with a C compiler present (apt install gcc "
            "python3-dev; pip install -e .)"
        ) from exc


def _words(*values: int) -> bytes:
    return np.array(values, _WORD).tobytes()


def _scale(s: FixedPoint) -> tuple[int, int]:
    return s.multiplier, s.shift


def _array(values: np.ndarray, dtype: str) -> bytes:
    """An array's bytes in the machine's order, zero-padded to whole words (every array starts word-aligned)."""
    raw = np.ascontiguousarray(values, np.dtype(dtype).newbyteorder("=")).tobytes()
    return raw + bytes(-len(raw) % 4)


def pack(model: CModel) -> bytes:
    """The blob the extension's ``Model`` reads: header words, each layer's words and arrays, the head's weights."""
    r = model.residual
    residual: tuple[int, ...] = (
        (1, r.input_index, r.fc_offset, r.input_offset, r.output_offset)
        + _scale(r.fc_scale)
        + _scale(r.input_scale)
        + _scale(r.output_scale)
        if r
        else (0,) * 11
    )
    parts = [
        _words(
            BLOB_VERSION,
            model.seq_len,
            model.n_features,
            len(model.layers),
            model.head_bias,
            *_scale(model.head_scale),
            model.head_output_offset,
            *residual,
        )
    ]
    for layer in model.layers:
        has_recurrent_bias = bool(layer.recurrent_bias.any())
        parts.append(
            _words(
                layer.input_dim,
                layer.state_dim,
                int(has_recurrent_bias),
                *(v for s in layer.input_scales for v in _scale(s)),
                *(v for s in layer.recurrent_scales for v in _scale(s)),
                *_scale(layer.forget_cell),
                *_scale(layer.input_cell),
                *_scale(layer.hidden),
                layer.hidden_zero_point,
                layer.cell_clip,
                layer.tanh_multiplier,
                layer.tanh_shift,
            )
        )
        parts += [
            _array(unit_major(layer.input_weights), "i1"),
            _array(unit_major(layer.recurrent_weights), "i1"),
            _array(layer.input_bias.T, "i4"),
        ]
        if has_recurrent_bias:
            parts.append(_array(layer.recurrent_bias.T, "i4"))
    parts.append(_array(model.head_weights, "i1"))
    return b"".join(parts)


def compile_model(name: str, model_bytes: bytes) -> tuple[Any, int]:
    """The extension's ``Model`` for one flatbuffer and the bytes of constants it holds; ImportError without the
    extension, UnsupportedModel for a model the runtime (or this build's limits) cannot run."""
    native = extension()
    blob = pack(read_model(name, model_bytes))
    try:
        return native.Model(blob), len(blob)
    except ValueError as exc:  # the build's WC_MAX_STATE / WC_MAX_LAYERS
        raise UnsupportedModel(f"{name}: {exc}") from exc


class WattcastPredictor:
    """A :class:`device.families.Predictor` on the own runtime: the whole batch quantized at once, predicted in one
    call to C (each window from a zero state, as in training), dequantized at once."""

    def __init__(self, path: Path, spec: WindowSpec, input_info: TensorInfo, output_info: TensorInfo) -> None:
        if (input_info.dtype, output_info.dtype) != ("int8", "int8"):
            raise UnsupportedModel(f"{path.name}: the own runtime runs int8 models, not {input_info.dtype}")
        self.spec = spec
        self._model, self.tensor_bytes = compile_model(path.stem, path.read_bytes())
        self._input_info, self._output_info = input_info, output_info

    def predict_q(self, x_q: np.ndarray) -> np.ndarray:
        """Raw int8 outputs (n,) for int8 windows (n, seq_len, n_features)."""
        raw: bytes = self._model.predict(np.ascontiguousarray(x_q, np.int8))
        return np.frombuffer(raw, np.int8)

    def predict(self, x: np.ndarray, n_real: np.ndarray) -> np.ndarray:
        return dequantize(self.predict_q(quantize(x, self._input_info)), self._output_info)
