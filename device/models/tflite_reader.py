"""Reading a ``.tflite`` flatbuffer on the device, with no dependency but numpy.

The agent derives the own runtime's constants from the shipped file at load time, and a Raspberry Pi has neither
``tflite-micro`` (its schema module) nor TensorFlow. A flatbuffer is simple to walk: a table is a signed offset to its
vtable, the vtable lists where each field sits, and a field is a scalar in place or an unsigned offset to a table,
vector or string. Only the tables and fields of TFLite's schema (``schema.fbs``) that the runtime needs are read;
field numbers below are their order in that schema.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

import numpy as np

#: TFLite's ``TensorType`` codes of the tensors the runtime reads, as numpy dtypes.
TENSOR_TYPES: dict[int, str] = {0: "float32", 2: "int32", 3: "uint8", 4: "int64", 7: "int16", 9: "int8"}
#: ``BuiltinOperator`` codes the own runtime knows by name; any other is reported as ``BUILTIN_<code>``.
OPERATORS: dict[int, str] = {
    0: "ADD",
    9: "FULLY_CONNECTED",
    44: "UNIDIRECTIONAL_SEQUENCE_LSTM",
    45: "STRIDED_SLICE",
}
#: TFLite's ``ActivationFunctionType``: NONE and TANH are the two the runtime meets.
ACTIVATION_NONE, ACTIVATION_TANH = 0, 4


class FlatbufferError(ValueError):
    """The bytes are not a flatbuffer this reader can walk (truncated, or an offset points outside)."""


class Table:
    """One flatbuffer table in ``data`` at ``pos``: its fields by number (0 is the schema's first field)."""

    def __init__(self, data: bytes, pos: int) -> None:
        self._data = data
        self._pos = pos
        vtable = pos - self._unpack("<i", pos)
        self._vtable = vtable
        self._vtable_size = self._unpack("<H", vtable)

    def _unpack(self, fmt: str, pos: int) -> Any:
        try:
            return struct.unpack_from(fmt, self._data, pos)[0]
        except struct.error as exc:
            raise FlatbufferError(f"offset {pos} is outside the {len(self._data)}-byte flatbuffer") from exc

    def _field(self, number: int) -> int | None:
        """Absolute position of field ``number``, or None when the field is absent (its default applies)."""
        slot = 4 + 2 * number
        if slot >= self._vtable_size:
            return None
        offset = self._unpack("<H", self._vtable + slot)
        return self._pos + offset if offset else None

    def _target(self, number: int) -> int | None:
        pos = self._field(number)
        return None if pos is None else pos + self._unpack("<I", pos)

    def scalar(self, number: int, fmt: str, default: Any = 0) -> Any:
        """A scalar field (``fmt`` a struct code such as ``<i``, ``<f``, ``<B``)."""
        pos = self._field(number)
        return default if pos is None else self._unpack(fmt, pos)

    def table(self, number: int) -> Table | None:
        pos = self._target(number)
        return None if pos is None else Table(self._data, pos)

    def tables(self, number: int) -> list[Table]:
        """A vector of tables (each element an offset relative to itself)."""
        pos = self._target(number)
        if pos is None:
            return []
        start = pos + 4
        return [
            Table(self._data, start + 4 * i + self._unpack("<I", start + 4 * i)) for i in range(self._unpack("<I", pos))
        ]

    def array(self, number: int, dtype: str) -> np.ndarray | None:
        """A vector of scalars as a read-only numpy array (little-endian ``dtype``), or None when absent."""
        pos = self._target(number)
        if pos is None:
            return None
        count = self._unpack("<I", pos)
        item = np.dtype(dtype).newbyteorder("<")
        if pos + 4 + count * item.itemsize > len(self._data):
            raise FlatbufferError(f"a vector of {count} {dtype} at {pos} runs past the end of the flatbuffer")
        return np.frombuffer(self._data, item, count, pos + 4)

    def string(self, number: int) -> str:
        raw = self.array(number, "uint8")
        return "" if raw is None else raw.tobytes().decode("utf-8", "replace")


@dataclass(frozen=True)
class Quantization:
    """A tensor's affine quantization: per-tensor when each list holds one value."""

    scale: tuple[float, ...]
    zero_point: tuple[int, ...]


@dataclass(frozen=True)
class Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: str  # numpy name, or ``type<code>`` for a type the runtime never reads
    buffer: int
    quantization: Quantization | None


@dataclass(frozen=True)
class Operator:
    """One operator: its builtin name, operand tensor indices (-1: an omitted optional operand) and options table."""

    name: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: Table | None


def _ints(values: np.ndarray | None) -> tuple[int, ...]:
    return () if values is None else tuple(int(v) for v in values)


def _tensor(table: Table) -> Tensor:
    quant = table.table(4)
    quantization = None
    if quant is not None:
        scale = quant.array(2, "float32")
        zero = quant.array(3, "int64")
        quantization = Quantization(
            tuple(float(s) for s in scale) if scale is not None else (), _ints(zero) if zero is not None else ()
        )
    type_code = table.scalar(1, "<b")
    return Tensor(
        name=table.string(3),
        shape=_ints(table.array(0, "int32")),
        dtype=TENSOR_TYPES.get(type_code, f"type{type_code}"),
        buffer=table.scalar(2, "<I"),
        quantization=quantization,
    )


class TFLiteModel:
    """A ``.tflite`` file's main subgraph: tensors, operators in execution order, inputs, outputs, constants."""

    def __init__(self, data: bytes) -> None:
        if len(data) < 8:
            raise FlatbufferError(f"{len(data)} bytes are no flatbuffer")
        self._data = bytes(data)
        root = Table(self._data, struct.unpack_from("<I", self._data, 0)[0])
        codes = []
        for code in root.tables(1):  # OperatorCode: deprecated_builtin_code (int8), ..., builtin_code (int32)
            builtin = max(code.scalar(0, "<b"), code.scalar(3, "<i"))
            codes.append(OPERATORS.get(builtin, f"BUILTIN_{builtin}"))
        self.subgraphs = len(root.tables(2))
        if self.subgraphs < 1:
            raise FlatbufferError("the flatbuffer has no subgraph")
        graph = root.tables(2)[0]
        self.tensors = tuple(_tensor(t) for t in graph.tables(0))
        self.inputs, self.outputs = _ints(graph.array(1, "int32")), _ints(graph.array(2, "int32"))
        self.operators = tuple(
            Operator(codes[op.scalar(0, "<I")], _ints(op.array(1, "int32")), _ints(op.array(2, "int32")), op.table(4))
            for op in graph.tables(3)
        )
        self._buffers = root.tables(4)

    def constant(self, index: int) -> np.ndarray | None:
        """Tensor ``index``'s data in its shape and dtype, or None when it has none (an activation)."""
        tensor = self.tensors[index]
        data = self._buffers[tensor.buffer].array(0, "uint8") if tensor.buffer < len(self._buffers) else None
        if data is None or data.size == 0:
            return None
        return np.frombuffer(data.tobytes(), np.dtype(tensor.dtype).newbyteorder("<")).reshape(tensor.shape)
