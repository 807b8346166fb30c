"""Reading a ``.tflite`` flatbuffer: its operators, tensor types and input/output quantization.

Parsed with the schema ``tflite-micro`` ships, so the checks need neither TensorFlow nor an interpreter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tflite_micro.python.tflite_micro.runtime import convert_bytearray_to_object, get_builtin_code_from_operator_code
from tflite_micro.tensorflow.lite.micro.python import schema_py_generated as schema

from device.models.families.tflite import TensorInfo

_OP_NAMES = {code: name for name, code in vars(schema.BuiltinOperator).items() if not name.startswith("_")}
_TYPE_NAMES = {code: name.lower() for name, code in vars(schema.TensorType).items() if not name.startswith("_")}


@dataclass(frozen=True)
class FlatbufferSummary:
    """What the tests and the manifest need to know about a converted model."""

    ops: tuple[str, ...]  # every operator of the main subgraph, in execution order
    subgraphs: int
    input: TensorInfo
    output: TensorInfo
    float_tensors: tuple[str, ...]  # names of non-empty float tensors (a full-integer model has none)

    @property
    def op_counts(self) -> dict[str, int]:
        return {op: self.ops.count(op) for op in sorted(set(self.ops))}


def _tensor_info(tensor) -> TensorInfo:
    q = tensor.quantization
    scale = float(q.scale[0]) if q is not None and q.scale is not None and len(q.scale) else 0.0
    zero_point = int(q.zeroPoint[0]) if q is not None and q.zeroPoint is not None and len(q.zeroPoint) else 0
    shape = tuple(int(d) for d in tensor.shape) if tensor.shape is not None else ()
    return TensorInfo(shape, _TYPE_NAMES[tensor.type], scale, zero_point)


def op_name(model, op) -> str:
    """The builtin operator's name (``UNIDIRECTIONAL_SEQUENCE_LSTM``) of ``op`` in a parsed ``model``."""
    return _OP_NAMES[get_builtin_code_from_operator_code(model.operatorCodes[op.opcodeIndex])]


def summarize(model_bytes: bytes) -> FlatbufferSummary:
    model = convert_bytearray_to_object(bytearray(model_bytes))
    graph = model.subgraphs[0]
    ops = tuple(op_name(model, op) for op in graph.operators)
    floats = tuple(
        t.name.decode()
        for g in model.subgraphs
        for t in g.tensors
        if _TYPE_NAMES[t.type].startswith("float") and t.shape is not None and np.prod(t.shape) > 0
    )
    (inp,), (out,) = graph.inputs, graph.outputs
    return FlatbufferSummary(
        ops, len(model.subgraphs), _tensor_info(graph.tensors[inp]), _tensor_info(graph.tensors[out]), floats
    )
