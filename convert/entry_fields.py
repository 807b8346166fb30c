"""The optional fields of a manifest entry that conversion, the benchmarks and the firmware checks cannot do without.

A :class:`device.models.entry.ModelEntry` leaves its file, scaling and (a TFLite entry) tensor info optional, since a
fileless baseline has none of them; the code here only ever handles models that have them, so each getter returns
the field or raises ValueError naming the model and what it lacks.
"""

from __future__ import annotations

from device.contract import MinMaxScaling
from device.models.entry import ModelEntry
from device.models.families.tflite import TensorInfo, TFLiteEntry
from device.models.kinds import ModelKind


def entry_file(entry: ModelEntry) -> str:
    """The file name of ``entry`` in its assets folder."""
    if entry.file is None:
        raise ValueError(f"model {entry.name!r}: its manifest entry names no file")
    return entry.file


def entry_scaling(entry: ModelEntry) -> MinMaxScaling:
    """The scaling ``entry``'s inputs and target were trained with."""
    if entry.scaling is None:
        raise ValueError(f"model {entry.name!r}: its manifest entry has no scaling")
    return entry.scaling


def entry_tensors(entry: ModelEntry) -> tuple[TensorInfo, TensorInfo]:
    """The input and output tensor info of a TFLite ``entry``."""
    if not isinstance(entry, TFLiteEntry):
        raise ValueError(f"model {entry.name!r} is a {entry.kind.value} model, not a TFLite one")
    if entry.input is None or entry.output is None:
        raise ValueError(f"model {entry.name!r}: its manifest entry lacks the input or output tensor info")
    return entry.input, entry.output


def is_int8_tflite(entry: ModelEntry) -> bool:
    """A TFLite model with an int8 input (the ones TFLM and the firmware run)."""
    return (
        entry.kind == ModelKind.TFLITE
        and isinstance(entry, TFLiteEntry)
        and entry.input is not None
        and entry.input.dtype == "int8"
    )
