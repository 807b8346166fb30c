"""What the project's own C runtime (``firmware/runtime/wc_model.c``) needs from a shipped int8 ``.tflite``.

Works out, once and in double precision exactly as TFLite Micro's ``Prepare`` does, every integer the C code needs:
gate weights, biases with the zero points folded in, fixed-point multipliers and shifts, the cell clip, the residual's
input element. Shared by the converter (``python -m convert.c_runtime`` writes them as C arrays for the firmware) and
the agent (:mod:`device.models.wattcast_runtime` hands them to the CPython extension at load time), so both run the
very same constants.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from device.models.tflite_reader import ACTIVATION_NONE, ACTIVATION_TANH, Operator, TFLiteModel

#: TFLite's integer LSTM: gate pre-activations are int16 with scale 2^-12, gate outputs int16 with scale 2^-15.
GATE_INPUT_SCALE = 2.0**-12
GATE_OUTPUT_SCALE = 2.0**-15
#: Gate order of the packed arrays, and the fused LSTM's operand indices for each gate.
GATES = ("input", "forget", "cell", "output")
_INPUT_WEIGHTS = (1, 2, 3, 4)
_RECURRENT_WEIGHTS = (5, 6, 7, 8)
_BIASES = (12, 13, 14, 15)
_HIDDEN, _CELL = 18, 19
_ADD_LEFT_SHIFT = 20  # TFLite's int8 ADD rescales both inputs to 2^20 before summing
#: Weight rows are padded with zeros to a multiple of this, so the M4 reads four int8 weights in one load.
ROW_ALIGN = 4
#: Option fields by their number in TFLite's schema (UnidirectionalSequenceLSTMOptions, StridedSliceOptions, and the
#: fused activation, field 0 of FullyConnectedOptions and AddOptions).
_LSTM_ACTIVATION, _LSTM_CELL_CLIP, _LSTM_TIME_MAJOR = 0, 1, 3
_BEGIN_MASK, _END_MASK, _ELLIPSIS_MASK, _NEW_AXIS_MASK, _SHRINK_AXIS_MASK = range(5)
_FUSED_ACTIVATION = 0


class UnsupportedModel(ValueError):
    """The flatbuffer holds something the C runtime does not implement."""


@dataclass(frozen=True)
class FixedPoint:
    """A real multiplier as TFLite stores it: a Q31 ``multiplier`` in [2^30, 2^31) and a power-of-two ``shift``."""

    multiplier: int
    shift: int

    @classmethod
    def of(cls, real: float) -> FixedPoint:
        """TFLite's ``QuantizeMultiplier``: frexp, round half away from zero, renormalise 2^31."""
        if real == 0.0:
            return cls(0, 0)
        mantissa, shift = math.frexp(real)
        if real < 0:
            raise UnsupportedModel(f"negative multiplier {real}")
        q = int(math.floor(mantissa * (1 << 31) + 0.5))
        if q == 1 << 31:
            q //= 2
            shift += 1
        if shift < -31:
            return cls(0, 0)
        return cls(q, shift)

    def c(self) -> str:
        return f"{{{self.multiplier}, {self.shift}}}"


@dataclass(frozen=True)
class Quant:
    scale: float  # float32 as stored, kept as the Python float of that value
    zero_point: int


@dataclass(frozen=True)
class LstmLayer:
    input_dim: int
    state_dim: int
    input_weights: np.ndarray  # (4, state, input) int8, gate order GATES
    recurrent_weights: np.ndarray  # (4, state, state) int8
    input_bias: np.ndarray  # (4, state) int32: bias - input_zero_point * row sums
    recurrent_bias: np.ndarray  # (4, state) int32: - hidden_zero_point * row sums
    input_scales: tuple[FixedPoint, ...]
    recurrent_scales: tuple[FixedPoint, ...]
    forget_cell: FixedPoint
    input_cell: FixedPoint
    hidden: FixedPoint
    hidden_zero_point: int
    cell_clip: int  # 0: none
    tanh_multiplier: int  # cell state -> the tanh's Q3.12-times-3 input: (c * m + round) >> shift
    tanh_shift: int


@dataclass(frozen=True)
class Residual:
    """The MCU model's ``out = fc + x[t, f]``: TFLite's int8 ADD with its rescaling constants."""

    input_index: int  # flat index into the int8 window
    fc_offset: int
    input_offset: int
    output_offset: int
    fc_scale: FixedPoint
    input_scale: FixedPoint
    output_scale: FixedPoint


@dataclass(frozen=True)
class CModel:
    name: str
    seq_len: int
    n_features: int
    layers: tuple[LstmLayer, ...]
    head_weights: np.ndarray  # (state,) int8
    head_bias: int  # bias - input_zero_point * sum(weights)
    head_scale: FixedPoint
    head_output_offset: int
    residual: Residual | None


class _Graph:
    """The main subgraph with typed access to constants and quantization."""

    def __init__(self, model_bytes: bytes) -> None:
        self.model = TFLiteModel(model_bytes)
        if self.model.subgraphs != 1:
            raise UnsupportedModel("only single-subgraph models are supported")
        self.ops = [(op.name, op) for op in self.model.operators]

    def shape(self, index: int) -> tuple[int, ...]:
        return self.model.tensors[index].shape

    def const(self, index: int) -> np.ndarray:
        data = self.model.constant(index)
        if data is None:
            raise UnsupportedModel(f"tensor {index} ({self.model.tensors[index].name!r}) is not a constant")
        return data

    def quant(self, index: int) -> Quant:
        q = self.model.tensors[index].quantization
        if q is None or len(q.scale) != 1 or len(q.zero_point) != 1:
            raise UnsupportedModel(f"tensor {index} must be per-tensor quantized")
        return Quant(q.scale[0], q.zero_point[0])

    def producer(self, index: int) -> tuple[str, Operator] | tuple[None, None]:
        for name, op in self.ops:
            if index in op.outputs:
                return name, op
        return None, None


def _option(op: Operator, number: int, fmt: str = "<i") -> int | float:
    """Field ``number`` of the operator's options table (its schema default 0 when absent)."""
    value: int | float = op.options.scalar(number, fmt) if op.options is not None else 0
    return value


def _fc_scale(input_q: Quant, weight_q: Quant, output_scale: float) -> FixedPoint:
    """TFLite's FULLY_CONNECTED multiplier: input scale x weight scale / output scale, in double."""
    return FixedPoint.of(input_q.scale * weight_q.scale / output_scale)


def _row_sums(w: np.ndarray) -> np.ndarray:
    sums: np.ndarray = w.astype(np.int64).sum(axis=-1)
    return sums


def unit_major(w: np.ndarray) -> np.ndarray:
    """Gate weights (4, state, n) as the C runtime reads them: per unit, per group of ``ROW_ALIGN`` inputs (zero
    padded), the four gates' weights side by side, so one load brings 16 weights that share 4 inputs."""
    gates, state, n = w.shape
    padded = np.pad(w, [(0, 0), (0, 0), (0, -n % ROW_ALIGN)])
    return padded.reshape(gates, state, -1, ROW_ALIGN).transpose(1, 2, 0, 3)


def _lstm_layer(g: _Graph, op: Operator) -> LstmLayer:
    ins = list(op.inputs)
    if any(ins[i] >= 0 for i in (9, 10, 11, 16, 17, 20, 21, 22, 23) if i < len(ins)):
        raise UnsupportedModel("peephole, projection and layer-norm LSTMs are not supported")
    if _option(op, _LSTM_TIME_MAJOR, "<B") or _option(op, _LSTM_ACTIVATION, "<b") != ACTIVATION_TANH:
        raise UnsupportedModel("only batch-major LSTMs with a tanh cell gate are supported")
    x_q, h_q, c_q = g.quant(ins[0]), g.quant(ins[_HIDDEN]), g.quant(ins[_CELL])
    w_in = np.stack([g.const(ins[i]) for i in _INPUT_WEIGHTS])
    w_rec = np.stack([g.const(ins[i]) for i in _RECURRENT_WEIGHTS])
    bias = np.stack([g.const(ins[i]) for i in _BIASES]).astype(np.int64)
    for i in _INPUT_WEIGHTS + _RECURRENT_WEIGHTS:
        if g.quant(ins[i]).zero_point != 0:
            raise UnsupportedModel("weights must be symmetric")
    cell_power = math.log2(c_q.scale)
    if cell_power != round(cell_power):
        raise UnsupportedModel(f"the cell state scale {c_q.scale} is not a power of two")
    # TFLM: tanh input left shift = 15 + log2(cell scale) - 3; a negative one becomes multiplier 3 and a right shift.
    left = 15 + int(cell_power) - 3
    tanh_multiplier, tanh_shift = (3 << left, 0) if left >= 0 else (3, -left)
    cell_clip = 0
    clip = float(_option(op, _LSTM_CELL_CLIP, "<f"))  # a float32 in the file: its exact value
    if clip > 0:
        cell_clip = int(min(max(clip / c_q.scale, -32768.0), 32767.0))
    return LstmLayer(
        input_dim=w_in.shape[2],
        state_dim=w_in.shape[1],
        input_weights=w_in,
        recurrent_weights=w_rec,
        input_bias=(bias - x_q.zero_point * _row_sums(w_in)).astype(np.int32),
        recurrent_bias=(-h_q.zero_point * _row_sums(w_rec)).astype(np.int32),
        input_scales=tuple(_fc_scale(x_q, g.quant(ins[i]), GATE_INPUT_SCALE) for i in _INPUT_WEIGHTS),
        recurrent_scales=tuple(_fc_scale(h_q, g.quant(ins[i]), GATE_INPUT_SCALE) for i in _RECURRENT_WEIGHTS),
        forget_cell=FixedPoint.of(GATE_OUTPUT_SCALE * c_q.scale / c_q.scale),
        input_cell=FixedPoint.of(GATE_OUTPUT_SCALE * GATE_OUTPUT_SCALE / c_q.scale),
        hidden=FixedPoint.of(GATE_OUTPUT_SCALE * GATE_OUTPUT_SCALE / h_q.scale),
        hidden_zero_point=h_q.zero_point,
        cell_clip=cell_clip,
        tanh_multiplier=tanh_multiplier,
        tanh_shift=tanh_shift,
    )


def _slice_indices(g: _Graph, op: Operator) -> np.ndarray:
    """The flat element indices a STRIDED_SLICE picks, evaluated on an index array with numpy's own slicing."""
    src, begin, end, strides = op.inputs
    if _option(op, _ELLIPSIS_MASK) or _option(op, _NEW_AXIS_MASK):
        raise UnsupportedModel("strided slices with ellipsis or new axes are not supported")
    begin_mask, end_mask = int(_option(op, _BEGIN_MASK)), int(_option(op, _END_MASK))
    shrink_mask = int(_option(op, _SHRINK_AXIS_MASK))
    shape = g.shape(src)
    index = np.arange(int(np.prod(shape))).reshape(shape)
    b, e, s = g.const(begin), g.const(end), g.const(strides)
    key: list[int | slice] = []
    for axis in range(len(shape)):
        if shrink_mask >> axis & 1:
            key.append(int(b[axis]))
        else:
            key.append(
                slice(
                    None if begin_mask >> axis & 1 else int(b[axis]),
                    None if end_mask >> axis & 1 else int(e[axis]),
                    int(s[axis]),
                )
            )
    picked: np.ndarray = index[tuple(key)].reshape(-1)
    return picked


def _add_constants(fc_q: Quant, x_q: Quant, out_q: Quant) -> tuple[FixedPoint, FixedPoint, FixedPoint]:
    """TFLite's int8 ADD: both inputs over twice the larger scale, the sum back over 2^20 x the output scale."""
    twice_max = 2.0 * max(fc_q.scale, x_q.scale)
    return (
        FixedPoint.of(fc_q.scale / twice_max),
        FixedPoint.of(x_q.scale / twice_max),
        FixedPoint.of(twice_max / ((1 << _ADD_LEFT_SHIFT) * out_q.scale)),
    )


def read_model(name: str, model_bytes: bytes) -> CModel:
    """Everything the C runtime needs from one shipped int8 flatbuffer (an LSTM stack, a dense head, a residual)."""
    g = _Graph(model_bytes)
    (window,), (output,) = g.model.inputs, g.model.outputs
    _, seq_len, n_features = g.shape(window)
    names = [n for n, _ in g.ops]
    lstms = [op for n, op in g.ops if n == "UNIDIRECTIONAL_SEQUENCE_LSTM"]
    if not lstms or set(names) - {"UNIDIRECTIONAL_SEQUENCE_LSTM", "STRIDED_SLICE", "FULLY_CONNECTED", "ADD"}:
        raise UnsupportedModel(f"{name}: operators {names} are not an LSTM stack with a dense head")
    layers = tuple(_lstm_layer(g, op) for op in lstms)
    last_sequence = lstms[-1].outputs[0]

    fc = next(op for n, op in g.ops if n == "FULLY_CONNECTED")
    fc_in, fc_w, fc_b = fc.inputs
    fc_out = fc.outputs[0]
    kind, slice_op = g.producer(fc_in)
    state = layers[-1].state_dim
    if (
        kind != "STRIDED_SLICE"
        or slice_op is None
        or slice_op.inputs[0] != last_sequence
        or list(_slice_indices(g, slice_op)) != list(range((seq_len - 1) * state, seq_len * state))
    ):
        raise UnsupportedModel(f"{name}: the dense head must read the last step of the last LSTM")
    weights = g.const(fc_w)
    if weights.shape != (1, state) or _option(fc, _FUSED_ACTIVATION, "<b") != ACTIVATION_NONE:
        raise UnsupportedModel(f"{name}: the dense head must have one output and no activation")
    head_in_q, head_out_q = g.quant(fc_in), g.quant(fc_out)
    head_bias = int(g.const(fc_b)[0]) - head_in_q.zero_point * int(_row_sums(weights)[0])

    residual = None
    if fc_out != output:
        add = next((op for n, op in g.ops if n == "ADD"), None)
        if add is None:
            raise UnsupportedModel(f"{name}: the dense head's output is not the model's output")
        a, b = add.inputs
        other = b if a == fc_out else a
        kind, x_slice = g.producer(other)
        if kind != "STRIDED_SLICE" or x_slice is None:
            raise UnsupportedModel(f"{name}: only `dense + one input element` is supported after the head")
        picked = _slice_indices(g, x_slice)
        if (
            add.outputs[0] != output
            or x_slice.inputs[0] != window
            or picked.size != 1
            or _option(add, _FUSED_ACTIVATION, "<b") != ACTIVATION_NONE
        ):
            raise UnsupportedModel(f"{name}: only `dense + one input element` is supported after the head")
        fc_q, x_q, out_q = g.quant(fc_out), g.quant(other), g.quant(output)
        residual = Residual(
            int(picked[0]), -fc_q.zero_point, -x_q.zero_point, out_q.zero_point, *_add_constants(fc_q, x_q, out_q)
        )
    return CModel(
        name,
        seq_len,
        n_features,
        layers,
        weights.reshape(-1),
        head_bias,
        _fc_scale(head_in_q, g.quant(fc_w), head_out_q.scale),
        head_out_q.zero_point,
        residual,
    )
