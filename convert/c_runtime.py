"""The shipped int8 ``.tflite`` files as constants for the project's own C runtime (``firmware/runtime/wc_model.c``).

Reads the flatbuffer the project ships and works out, once and in double precision exactly as TFLite Micro's
``Prepare`` does, every integer the C code needs: gate-packed weights, biases with the zero points folded in,
fixed-point multipliers and shifts, the cell clip, the residual's input element. The C side then runs on integers
only, with no parser and no allocation. Output: ``<model>_wc.h`` / ``<model>_wc.c`` beside the TFLM arrays.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tflite_micro.python.tflite_micro.runtime import convert_bytearray_to_object
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from convert.c_arrays import c_identifier
from convert.c_runtime_table import measure_sigmoid_table, render_table
from convert.flatbuffer import op_name
from device.models.manifest import SHIPPED_ASSETS
from device.options import build_parser, option, parse_options

log = logging.getLogger(__name__)

#: The int8 models the C runtime runs (the float and CNN models are not its job).
MODELS = ("mcu_lstm_int8", "lstm_int8")
TABLE_NAME = "wc_sigmoid_table.c"
_NUMPY = {schema.TensorType.INT8: np.int8, schema.TensorType.INT16: np.int16, schema.TensorType.INT32: np.int32}

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

    def __init__(self, model_bytes: bytes):
        self.model = convert_bytearray_to_object(bytearray(model_bytes))
        if len(self.model.subgraphs) != 1:
            raise UnsupportedModel("only single-subgraph models are supported")
        self.graph = self.model.subgraphs[0]
        self.ops = [(op_name(self.model, op), op) for op in self.graph.operators]

    def tensor(self, index: int):
        return self.graph.tensors[index]

    def shape(self, index: int) -> tuple[int, ...]:
        return tuple(int(d) for d in self.tensor(index).shape)

    def const(self, index: int) -> np.ndarray:
        t = self.tensor(index)
        data = self.model.buffers[t.buffer].data
        if data is None:
            raise UnsupportedModel(f"tensor {index} ({t.name!r}) is not a constant")
        return np.frombuffer(bytes(bytearray(data)), dtype=_NUMPY[t.type]).reshape(self.shape(index))

    def quant(self, index: int) -> Quant:
        q = self.tensor(index).quantization
        if q is None or q.scale is None or len(q.scale) != 1:
            raise UnsupportedModel(f"tensor {index} must be per-tensor quantized")
        return Quant(float(np.float32(q.scale[0])), int(q.zeroPoint[0]))

    def producer(self, index: int):
        for name, op in self.ops:
            if index in list(op.outputs):
                return name, op
        return None, None


def _fc_scale(input_q: Quant, weight_q: Quant, output_scale: float) -> FixedPoint:
    """TFLite's FULLY_CONNECTED multiplier: input scale x weight scale / output scale, in double."""
    return FixedPoint.of(input_q.scale * weight_q.scale / output_scale)


def _row_sums(w: np.ndarray) -> np.ndarray:
    return w.astype(np.int64).sum(axis=-1)


def unit_major(w: np.ndarray) -> np.ndarray:
    """Gate weights (4, state, n) as the C runtime reads them: per unit, per group of ``ROW_ALIGN`` inputs (zero
    padded), the four gates' weights side by side, so one load brings 16 weights that share 4 inputs."""
    gates, state, n = w.shape
    padded = np.pad(w, [(0, 0), (0, 0), (0, -n % ROW_ALIGN)])
    return padded.reshape(gates, state, -1, ROW_ALIGN).transpose(1, 2, 0, 3)


def _lstm_layer(g: _Graph, op) -> LstmLayer:
    ins = [int(i) for i in op.inputs]
    if any(ins[i] >= 0 for i in (9, 10, 11, 16, 17, 20, 21, 22, 23)):
        raise UnsupportedModel("peephole, projection and layer-norm LSTMs are not supported")
    opts = op.builtinOptions
    if opts.timeMajor or opts.fusedActivationFunction != schema.ActivationFunctionType.TANH:
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
    if opts.cellClip > 0:
        cell_clip = int(min(max(float(np.float32(opts.cellClip)) / c_q.scale, -32768.0), 32767.0))
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


def _slice_indices(g: _Graph, op) -> np.ndarray:
    """The flat element indices a STRIDED_SLICE picks, evaluated on an index array with numpy's own slicing."""
    src, begin, end, strides = (int(i) for i in op.inputs)
    opts = op.builtinOptions
    if opts.ellipsisMask or opts.newAxisMask:
        raise UnsupportedModel("strided slices with ellipsis or new axes are not supported")
    shape = g.shape(src)
    index = np.arange(int(np.prod(shape))).reshape(shape)
    b, e, s = g.const(begin), g.const(end), g.const(strides)
    key: list[int | slice] = []
    for axis in range(len(shape)):
        if opts.shrinkAxisMask >> axis & 1:
            key.append(int(b[axis]))
        else:
            key.append(
                slice(
                    None if opts.beginMask >> axis & 1 else int(b[axis]),
                    None if opts.endMask >> axis & 1 else int(e[axis]),
                    int(s[axis]),
                )
            )
    return index[tuple(key)].reshape(-1)


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
    (window,), (output,) = [int(i) for i in g.graph.inputs], [int(i) for i in g.graph.outputs]
    _, seq_len, n_features = g.shape(window)
    names = [n for n, _ in g.ops]
    lstms = [op for n, op in g.ops if n == "UNIDIRECTIONAL_SEQUENCE_LSTM"]
    if not lstms or set(names) - {"UNIDIRECTIONAL_SEQUENCE_LSTM", "STRIDED_SLICE", "FULLY_CONNECTED", "ADD"}:
        raise UnsupportedModel(f"{name}: operators {names} are not an LSTM stack with a dense head")
    layers = tuple(_lstm_layer(g, op) for op in lstms)
    last_sequence = int(lstms[-1].outputs[0])

    fc = next(op for n, op in g.ops if n == "FULLY_CONNECTED")
    fc_in, fc_w, fc_b = (int(i) for i in fc.inputs)
    fc_out = int(fc.outputs[0])
    kind, slice_op = g.producer(fc_in)
    state = layers[-1].state_dim
    if (
        kind != "STRIDED_SLICE"
        or int(slice_op.inputs[0]) != last_sequence
        or list(_slice_indices(g, slice_op)) != list(range((seq_len - 1) * state, seq_len * state))
    ):
        raise UnsupportedModel(f"{name}: the dense head must read the last step of the last LSTM")
    weights = g.const(fc_w)
    if weights.shape != (1, state) or fc.builtinOptions.fusedActivationFunction != 0:
        raise UnsupportedModel(f"{name}: the dense head must have one output and no activation")
    head_in_q, head_out_q = g.quant(fc_in), g.quant(fc_out)
    head_bias = int(g.const(fc_b)[0]) - head_in_q.zero_point * int(_row_sums(weights)[0])

    residual = None
    if fc_out != output:
        add = next(op for n, op in g.ops if n == "ADD")
        a, b = (int(i) for i in add.inputs)
        other = b if a == fc_out else a
        kind, x_slice = g.producer(other)
        picked = _slice_indices(g, x_slice)
        if (
            int(add.outputs[0]) != output
            or kind != "STRIDED_SLICE"
            or int(x_slice.inputs[0]) != window
            or picked.size != 1
            or add.builtinOptions.fusedActivationFunction != 0
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


_PER_LINE = 24


def _ints(values) -> str:
    """Comma-separated integers, ``_PER_LINE`` to a line."""
    flat = [str(int(v)) for v in np.asarray(values).reshape(-1)]
    return ",\n    ".join(", ".join(flat[i : i + _PER_LINE]) for i in range(0, len(flat), _PER_LINE))


def _array(c_type: str, name: str, values, aligned: bool = False) -> str:
    align = " WC_ALIGN4" if aligned else ""
    return f"static const {c_type} {name}[]{align} = {{\n    {_ints(values)}\n}};"


def render(model: CModel) -> dict[str, str]:
    """``{"<name>_wc.h": ..., "<name>_wc.c": ...}`` declaring ``const wc_model_t wc_<name>``."""
    ident = c_identifier(model.name)
    guard = f"WATTCAST_{ident.upper()}_WC_H"
    header = (
        f"/* {model.name}.tflite for the project's C runtime (firmware/runtime/wc_model.h).\n"
        f" * Generated by `python -m convert.c_runtime`; do not edit. */\n"
        f'#ifndef {guard}\n#define {guard}\n\n#include "wc_model.h"\n\n'
        f"#define WC_{ident.upper()}_SEQ_LEN {model.seq_len}\n"
        f"#define WC_{ident.upper()}_N_FEATURES {model.n_features}\n\n"
        f"extern const wc_model_t wc_{ident};\n\n#endif /* {guard} */\n"
    )
    arrays, layer_inits = [], []
    for k, layer in enumerate(model.layers):
        p = f"{ident}_l{k}"
        arrays += [
            _array("int8_t", f"{p}_wx", unit_major(layer.input_weights), aligned=True),
            _array("int8_t", f"{p}_wh", unit_major(layer.recurrent_weights), aligned=True),
            _array("int32_t", f"{p}_bx", layer.input_bias.T),
        ]
        recurrent_bias = "0"  # a zero hidden zero point folds to nothing: no array
        if layer.recurrent_bias.any():
            arrays.append(_array("int32_t", f"{p}_bh", layer.recurrent_bias.T))
            recurrent_bias = f"{p}_bh"
        layer_inits.append(
            f"    {{{layer.input_dim}, {layer.state_dim}, {p}_wx, {p}_wh, {p}_bx, {recurrent_bias},\n"
            f"     {{{', '.join(s.c() for s in layer.input_scales)}}},\n"
            f"     {{{', '.join(s.c() for s in layer.recurrent_scales)}}},\n"
            f"     {layer.forget_cell.c()}, {layer.input_cell.c()}, {layer.hidden.c()},\n"
            f"     {layer.hidden_zero_point}, {layer.cell_clip}, {layer.tanh_multiplier}, {layer.tanh_shift}}}"
        )
    r = model.residual
    residual = (
        f"1, {r.input_index}, {r.fc_offset}, {r.input_offset}, {r.output_offset}, "
        f"{r.fc_scale.c()}, {r.input_scale.c()}, {r.output_scale.c()}"
        if r
        else "0, 0, 0, 0, 0, {0, 0}, {0, 0}, {0, 0}"
    )
    source = "\n".join(
        [
            f"/* {model.name}.tflite: weights and fixed-point constants for the project's C runtime.",
            " * Generated by `python -m convert.c_runtime` from the shipped flatbuffer; do not edit. */",
            f'#include "{ident}_wc.h"',
            "",
            *arrays,
            "",
            f"static const wc_lstm_layer_t {ident}_layers[] = {{",
            ",\n".join(layer_inits),
            "};",
            "",
            _array("int8_t", f"{ident}_head_w", model.head_weights),
            "",
            f"const wc_model_t wc_{ident} = {{",
            f"    {model.seq_len}, {model.n_features}, {len(model.layers)}, {ident}_layers,",
            f"    {ident}_head_w, {model.head_bias}, {model.head_scale.c()}, {model.head_output_offset},",
            f"    {{{residual}}}",
            "};",
            "",
        ]
    )
    return {f"{ident}_wc.h": header, f"{ident}_wc.c": source}


def write_c_runtime_assets(assets: Path, models: tuple[str, ...] = MODELS) -> list[str]:
    """Writes ``<model>_wc.h/.c`` for every listed model whose ``.tflite`` is in ``assets`` and the runtime supports,
    and the activations' sigmoid table; returns the file names."""
    (Path(assets) / TABLE_NAME).write_text(render_table(measure_sigmoid_table()))
    written = [TABLE_NAME]
    for name in models:
        path = Path(assets) / f"{name}.tflite"
        if not path.is_file():
            log.info("no %s, no C runtime constants for it", path.name)
            continue
        try:
            files = render(read_model(name, path.read_bytes()))
        except UnsupportedModel as exc:  # the conversion goes on; tests/test_firmware_host.py flags stale C
            log.warning("%s: no C runtime constants (%s)", path.name, exc)
            continue
        for file_name, text in files.items():
            (Path(assets) / file_name).write_text(text)
            written.append(file_name)
    log.info("C runtime constants: %s", ", ".join(written))
    return written


@dataclass(frozen=True)
class CRuntimeConfig:
    assets: Path = option(SHIPPED_ASSETS, "directory holding the shipped .tflite files; the C files are written there")
    models: tuple[str, ...] = option(MODELS, "models to emit", choices=MODELS)


def main(argv: list[str] | None = None) -> None:
    config = parse_options(
        CRuntimeConfig, argv, build_parser(CRuntimeConfig, "python -m convert.c_runtime", __doc__, log_level=None)
    )
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    for name in write_c_runtime_assets(config.assets, config.models):
        print(config.assets / name)


if __name__ == "__main__":
    main()
