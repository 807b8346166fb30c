"""The sigmoid table of TFLite's int16 activations, measured from tflite-micro rather than copied from its source.

TFLite's int16 sigmoid and tanh interpolate a 256-entry table of 65536 x sigmoid(i / 24) whose entries are not a
plain rounding of that formula, and bit-exactness needs them exactly. So we run one int16 TANH through tflite-micro's
interpreter on inputs that land exactly on the table's points, where its output is ``table[i] - 32768``, and read
the last entry (only ever interpolated towards) back from one point in between.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import flatbuffers
import numpy as np
from tflite_micro.python.tflite_micro import runtime
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from device.options import build_parser, option, parse_options

TABLE_SIZE = 256
#: Where the runtime's table lives: beside the runtime, model-independent, built into every image and the extension.
TABLE_FILE = Path(__file__).resolve().parents[1] / "firmware" / "runtime" / "wc_sigmoid_table.c"
log = logging.getLogger(__name__)
#: With this input scale TFLM's int16 tanh doubles its input exactly (multiplier 16384, shift 13), so input k * 128
#: reaches table point k with no fraction.
_INPUT_SCALE = 1.0 / 6144.0
_STEP = 128
_OUTPUT_SCALE = 2.0**-15
_ARENA = 16 * 1024


def _tanh_model(n: int) -> bytes:
    """A flatbuffer holding one int16 TANH over ``n`` values."""

    def tensor(name: str, scale: float):
        t = schema.TensorT()
        t.name, t.shape, t.type, t.buffer = name, [n], schema.TensorType.INT16, 0
        t.quantization = schema.QuantizationParametersT()
        t.quantization.scale, t.quantization.zeroPoint = [scale], [0]
        return t

    code = schema.OperatorCodeT()
    code.builtinCode = code.deprecatedBuiltinCode = schema.BuiltinOperator.TANH
    code.version = 1
    op = schema.OperatorT()
    op.opcodeIndex, op.inputs, op.outputs = 0, [0], [1]
    graph = schema.SubGraphT()
    graph.tensors = [tensor("x", _INPUT_SCALE), tensor("y", _OUTPUT_SCALE)]
    graph.inputs, graph.outputs, graph.operators = [0], [1], [op]
    model = schema.ModelT()
    model.version, model.operatorCodes, model.subgraphs, model.buffers = 3, [code], [graph], [schema.BufferT()]
    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def measure_sigmoid_table() -> list[int]:
    """The 256 table entries, from tflite-micro's int16 TANH."""
    last = TABLE_SIZE - 2  # table[255] is only reached by interpolating from table[254]
    between = last * _STEP + _STEP - 1  # lands 254/256 of the way from point 254 to point 255
    x = np.array([k * _STEP for k in range(TABLE_SIZE - 1)] + [between], dtype=np.int16)
    interpreter = runtime.Interpreter.from_bytes(_tanh_model(len(x)), arena_size=_ARENA)
    interpreter.set_input(x, 0)
    interpreter.invoke()
    y = interpreter.get_output(0).astype(np.int64) + 32768
    table = [int(v) for v in y[:-1]]
    # Between the points: y = table[254] + floor((254 * d + 128) / 256) with d = table[255] - table[254].
    rise = int(y[-1]) - table[last]
    d = next(d for d in range(0, 65536 - table[last]) if (254 * d + 128) // 256 == rise)
    table.append(table[last] + d)
    if any(b < a for a, b in zip(table, table[1:])) or table[0] != 32768:
        raise RuntimeError(f"the measured sigmoid table is not a sigmoid: {table[:4]} ... {table[-4:]}")
    return table


def render_table(table: list[int]) -> str:
    rows = ",\n    ".join(", ".join(str(v) for v in table[i : i + 16]) for i in range(0, len(table), 16))
    return (
        "/* 65536 x sigmoid(i / 24), i = 0..255: the table TFLite's int16 sigmoid and tanh interpolate.\n"
        " * Measured from tflite-micro's interpreter by `python -m convert.c_runtime_table`\n"
        " * (convert/c_runtime_table.py). */\n"
        '#include "wc_activations.h"\n\n'
        f"const uint16_t wc_sigmoid_table[{TABLE_SIZE}] = {{\n    {rows}\n}};\n"
    )


@dataclass(frozen=True)
class TableConfig:
    out: Path = option(TABLE_FILE, "the C file to write the measured table to")


def main(argv: list[str] | None = None) -> None:
    parser = build_parser(TableConfig, "python -m convert.c_runtime_table", __doc__ or "")
    config = parse_options(TableConfig, argv, parser)
    config.out.write_text(render_table(measure_sigmoid_table()))
    log.info("wrote %s", config.out)


if __name__ == "__main__":
    main()
