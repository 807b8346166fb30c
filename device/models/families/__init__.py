"""The model-kind registry: one module per family, each owning its manifest entry, its loader and its predictor.

:func:`family` finds the :class:`Family` of a :class:`~device.kinds.ModelKind` in the module the kind names; the
manifest decodes entries through it, the converter and the test assets write entries through it, and
:func:`device.models.load.load_models` loads through it. Nothing here imports a family module until a kind asks for it,
so a device without TFLM or LiteRT still loads its numpy models.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from device.contract import TARGET, WindowSpec
from device.models.entry import ModelEntry
from device.models.kinds import ModelKind


class Predictor(Protocol):
    """Scaled predictions (n,) for scaled, pre-padded windows (n, seq_len, n_features) with the number of real
    (unpadded) readings in each: the host evaluation and the agent call the same objects."""

    @property
    def spec(self) -> WindowSpec: ...

    def predict(self, x: np.ndarray, n_real: np.ndarray) -> np.ndarray: ...


@dataclass(frozen=True)
class Built:
    """A ready predictor, the runtime running it, and the bytes its tensors (or coefficients) take; ``runtime_note``
    says why it is not the runtime asked for (``auto`` falling back from the own runtime)."""

    predictor: Predictor
    runtime: str
    tensor_bytes: int
    runtime_note: str | None = None


class Family:
    """A model kind: the entry type it writes and reads, and how it turns an entry (and its verified file) into a
    predictor. Subclasses set ``kind`` and implement :meth:`build`; ``runtime`` (``auto``, ``wattcast``, a LiteRT
    runtime's name or ``tflm``) and ``num_threads`` concern the families that run an interpreter."""

    kind: ModelKind
    entry_class: type[ModelEntry] = ModelEntry
    needs_file: bool = True

    def entry(self, **fields: Any) -> ModelEntry:
        """A manifest entry of this kind (what the converter and the test assets write)."""
        return self.entry_class(kind=self.kind, **fields)

    def build(self, entry: ModelEntry, path: Path | None, runtime: str, num_threads: int) -> Built:
        raise NotImplementedError


def family(kind: ModelKind | str) -> Family:
    """The family owning ``kind``; raises ValueError for a kind no module owns."""
    try:
        kind = ModelKind(kind)
    except ValueError:
        raise ValueError(f"unknown model kind {kind!r}; known: {[k.value for k in ModelKind]}") from None
    families: dict[ModelKind, Family] = importlib.import_module(f"device.models.families.{kind.family_module}").FAMILIES
    return families[kind]


def entry_from_dict(d: dict[str, Any]) -> ModelEntry:
    """Decode one manifest entry with its family's entry type."""
    return family(d["kind"]).entry_class.from_dict(d)


def target_column(spec: WindowSpec) -> int:
    """Where the target sits among the inputs, for the predictors that read it back."""
    if TARGET not in spec.features:
        raise ValueError(f"this predictor needs the target feature {TARGET!r} among the inputs, got {spec.features}")
    return spec.features.index(TARGET)
