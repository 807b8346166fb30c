"""TFLite flatbuffers: their manifest entry (file, tensor types), and running them with whichever LiteRT runtime is
installed.

Order: ``ai_edge_litert`` (the maintained runtime, wheels for aarch64), ``tflite_runtime`` (numpy < 2 only), then
``tensorflow.lite`` as a last resort on a host. The agent never imports TensorFlow unless both light runtimes are
missing or ``--runtime tensorflow`` asks for it.

``--runtime tflm`` runs the models on TensorFlow Lite for Microcontrollers' own interpreter (the ``tflite-micro``
package), in the arena the converter measured: the very kernels a microcontroller firmware runs, and for the int8
LSTM about twice as fast as LiteRT's. It is never chosen automatically: the package has wheels for x86_64 Linux
only, not for a Raspberry Pi.

``--runtime wattcast`` runs the int8 LSTMs on the project's own C runtime, the firmware's source compiled into a
CPython extension at install (:mod:`device.models.wattcast_runtime`): bit-exact with tflite-micro, and many windows
per call. ``auto`` prefers it for every int8 model it supports and otherwise takes the first LiteRT runtime that
imports, saying why in the log and in the model's ``runtime_note``; LiteRT is imported only when a model needs it.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from device.contract import WindowSpec
from device.models.entry import ModelEntry
from device.models.families import Built, Family
from device.models.kinds import ModelKind

log = logging.getLogger(__name__)

#: runtime name -> (module, attribute path to the Interpreter class)
RUNTIMES: dict[str, tuple[str, str]] = {
    "litert": ("ai_edge_litert.interpreter", "Interpreter"),
    "tflite-runtime": ("tflite_runtime.interpreter", "Interpreter"),
    "tensorflow": ("tensorflow", "lite.Interpreter"),
}
#: Chosen only by name: TFLM's interpreter has an API of its own (:class:`TFLMPredictor`).
TFLM = "tflm"
#: The own C runtime (:mod:`device.models.wattcast_runtime`): by name, or first choice of ``auto`` for int8 LSTMs.
WATTCAST = "wattcast"
#: Every ``--runtime`` choice.
RUNTIME_CHOICES = ("auto", WATTCAST, *RUNTIMES, TFLM)
#: TFLM's arena when the manifest has no measured one.
DEFAULT_TFLM_ARENA = 64 * 1024


@dataclass(frozen=True)
class TensorInfo:
    """Shape, dtype and (for integer tensors) the affine quantization ``real = scale * (q - zero_point)``."""

    shape: tuple[int, ...]
    dtype: str
    scale: float = 0.0
    zero_point: int = 0

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TensorInfo:
        return cls(tuple(d["shape"]), d["dtype"], float(d.get("scale", 0.0)), int(d.get("zero_point", 0)))


@dataclass(frozen=True)
class TFLiteEntry(ModelEntry):
    """A TFLite entry also gives its input and output tensors, so the agent quantizes without asking the file."""

    input: TensorInfo | None = None
    output: TensorInfo | None = None

    @classmethod
    def decode_extra(cls, extra: dict[str, Any]) -> dict[str, Any]:
        return {k: TensorInfo.from_dict(v) if v else None for k, v in extra.items()}


def interpreter_class(runtime: str = "auto") -> tuple[type, str]:
    """The Interpreter class and the runtime's name; ``auto`` takes the first that imports."""
    names = list(RUNTIMES) if runtime == "auto" else [runtime]
    errors = []
    for name in names:
        if name not in RUNTIMES:
            raise ValueError(f"unknown runtime {name!r}; choose one of {list(RUNTIME_CHOICES)}")
        module_name, attr = RUNTIMES[name]
        try:
            target: Any = importlib.import_module(module_name)
        except ImportError as exc:
            errors.append(f"{module_name}: {exc}")
            continue
        for part in attr.split("."):
            target = getattr(target, part)
        if not isinstance(target, type):
            raise ImportError(f"{module_name}.{attr} is not an Interpreter class but {type(target).__name__}")
        return target, name
    raise ImportError("no TFLite runtime could be imported (pip install ai-edge-litert): " + "; ".join(errors))


def quantize(x: np.ndarray, info: TensorInfo) -> np.ndarray:
    """Float to the tensor's dtype with its affine parameters (a float tensor is passed through)."""
    if info.dtype == "float32":
        return np.asarray(x, np.float32)
    limits = np.iinfo(info.dtype)
    q = np.round(np.asarray(x, np.float64) / info.scale) + info.zero_point
    return np.clip(q, limits.min, limits.max).astype(info.dtype)


def dequantize(q: np.ndarray, info: TensorInfo) -> np.ndarray:
    if info.dtype == "float32":
        return np.asarray(q, np.float32)
    return (info.scale * (np.asarray(q, np.float64) - info.zero_point)).astype(np.float32)


def run_windows(
    x: np.ndarray,
    input_info: TensorInfo,
    output_info: TensorInfo,
    input_shape: tuple[int, ...],
    invoke: Callable[[np.ndarray], np.ndarray],
) -> np.ndarray:
    """Scaled predictions (n,) for windows (n, seq_len, n_features): quantized once for the batch, ``invoke`` (a
    fresh sequence each time) window by window, since a fused LSTM's state is batch 1, dequantized once."""
    raw = np.empty(len(x), np.dtype(output_info.dtype))
    for i, window in enumerate(quantize(x, input_info).reshape(len(x), *input_shape)):
        raw[i] = invoke(window).reshape(-1)[0]
    return dequantize(raw, output_info)


class TFLitePredictor:
    """A :class:`device.families.Predictor` over one interpreter, one window per invoke.

    The fused LSTM keeps its state in variable tensors between invokes, so they are reset before every window:
    each window is a fresh sequence, as in training.
    """

    def __init__(
        self,
        path: Path,
        spec: WindowSpec,
        input_info: TensorInfo,
        output_info: TensorInfo,
        interpreter_cls: type,
        num_threads: int = 1,
    ) -> None:
        self.spec = spec
        self._interpreter = interpreter_cls(model_path=str(path), num_threads=num_threads)
        self._interpreter.allocate_tensors()
        (inp,) = self._interpreter.get_input_details()
        out = self._interpreter.get_output_details()[0]
        for role, details, info in (("input", inp, input_info), ("output", out, output_info)):
            if np.dtype(details["dtype"]).name != info.dtype:
                raise ValueError(
                    f"{path.name}: the manifest says {role} {info.dtype}, the model has "
                    f"{np.dtype(details['dtype']).name}"
                )
        self._input_index, self._output_index = inp["index"], out["index"]
        self._input_shape = tuple(int(d) for d in inp["shape"])
        self._input_info, self._output_info = input_info, output_info

    @property
    def tensor_bytes(self) -> int:
        """Bytes of every tensor the interpreter allocated (weights included): the closest LiteRT gets to an arena
        size."""
        return int(
            sum(
                int(np.prod(t["shape"])) * np.dtype(t["dtype"]).itemsize for t in self._interpreter.get_tensor_details()
            )
        )

    def predict(self, x: np.ndarray, n_real: np.ndarray) -> np.ndarray:
        return run_windows(x, self._input_info, self._output_info, self._input_shape, self._invoke)

    def _invoke(self, window: np.ndarray) -> np.ndarray:
        interpreter = self._interpreter
        interpreter.reset_all_variables()
        interpreter.set_tensor(self._input_index, window)
        interpreter.invoke()
        output: np.ndarray = interpreter.get_tensor(self._output_index)  # the runtimes are untyped
        return output


class TFLMPredictor:
    """The same contract on TFLM's interpreter: ``reset()`` clears the LSTM state before every window."""

    def __init__(
        self, path: Path, spec: WindowSpec, input_info: TensorInfo, output_info: TensorInfo, arena_bytes: int | None
    ) -> None:
        from tflite_micro.python.tflite_micro import runtime as tflm  # only here: the agent may not have it

        self.spec = spec
        self.tensor_bytes = arena_bytes or DEFAULT_TFLM_ARENA
        self._interpreter = tflm.Interpreter.from_file(str(path), arena_size=self.tensor_bytes)
        self._input_shape = tuple(input_info.shape)
        self._input_info, self._output_info = input_info, output_info

    def predict(self, x: np.ndarray, n_real: np.ndarray) -> np.ndarray:
        return run_windows(x, self._input_info, self._output_info, self._input_shape, self._invoke)

    def _invoke(self, window: np.ndarray) -> np.ndarray:
        interpreter = self._interpreter
        interpreter.reset()
        interpreter.set_input(window, 0)
        interpreter.invoke()
        output: np.ndarray = interpreter.get_output(0)  # tflite-micro is untyped
        return output


class TFLiteFamily(Family):
    kind = ModelKind.TFLITE
    entry_class = TFLiteEntry

    def build(self, entry: ModelEntry, path: Path | None, runtime: str, num_threads: int) -> Built:
        if not isinstance(entry, TFLiteEntry):
            raise TypeError(f"model {entry.name!r}: a tflite model needs a TFLiteEntry, got {type(entry).__name__}")
        if entry.input is None or entry.output is None:
            raise ValueError(f"model {entry.name!r}: a tflite entry needs input and output tensor info")
        if path is None:
            raise ValueError(f"model {entry.name!r}: a tflite model needs its file")
        if runtime == TFLM:
            micro = TFLMPredictor(path, entry.window, entry.input, entry.output, entry.arena_bytes)
            return Built(micro, TFLM, micro.tensor_bytes)
        note = None
        if runtime in (WATTCAST, "auto") and (runtime == WATTCAST or entry.input.dtype == "int8"):
            from device.models.wattcast_constants import UnsupportedModel
            from device.models.wattcast_runtime import WattcastPredictor

            try:
                own = WattcastPredictor(path, entry.window, entry.input, entry.output)
                return Built(own, WATTCAST, own.tensor_bytes)
            except (ImportError, UnsupportedModel) as exc:
                if runtime == WATTCAST:
                    raise
                note = f"not on the wattcast runtime: {exc}"
                level = logging.WARNING if isinstance(exc, ImportError) else logging.INFO
                log.log(level, "%s: %s; falling back to LiteRT", entry.name, note)
            runtime = "auto"
        cls, runtime_name = interpreter_class(runtime)
        predictor = TFLitePredictor(path, entry.window, entry.input, entry.output, cls, num_threads)
        return Built(predictor, runtime_name, predictor.tensor_bytes, note)


FAMILIES: dict[ModelKind, Family] = {ModelKind.TFLITE: TFLiteFamily()}
