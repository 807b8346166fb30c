"""One trained network to shipped ``.tflite`` files with their C arrays and manifest entries.

For every network: a float32 conversion as the reference, then the quantized modes. Each file is scored on the
held-out windows under LiteRT (fidelity against float), and every int8 file is proven on TFLM (arena, agreement).
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from convert import c_arrays
from convert.config import AGREEMENT_STEPS
from convert.fidelity import compare, litert_predict, task_metrics
from convert.flatbuffer import summarize
from convert.isolated import run_isolated
from convert.tflite_convert import ConversionFailed, convert_model
from convert.tflm import prove_on_tflm
from device.models.entry import ModelEntry
from device.models.families import family
from device.models.kinds import ModelKind
from train.artifacts import TrainedModel

log = logging.getLogger(__name__)


@dataclass
class Shipped:
    """What converting one network produced: manifest entries, the file names written, every attempt's outcome."""

    entries: list[ModelEntry] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    attempts: list[dict[str, Any]] = field(default_factory=list)


def keras_macs(keras_path: Path) -> int:
    """MACs per inference of a saved model (imports Keras: run it isolated)."""
    import keras

    from convert.cost import model_macs

    return model_macs(keras.saving.load_model(keras_path, compile=False))


def _write_texts(directory: Path, texts: dict[str, str]) -> list[str]:
    for name, text in texts.items():
        (directory / name).write_text(text)
    return sorted(texts)


class NetworkConverter:
    """Converts one trained network into ``out``; ``entry_name(mode)`` names what is shipped."""

    def __init__(self, trained: TrainedModel, out: Path, tflm: bool, macs: int | None = None) -> None:
        """``macs`` when the caller knows them (a :class:`train.mcu_models.McuConfig` counts its own); otherwise
        they are counted from the saved model in a child process, which costs a TensorFlow import."""
        self.keras_path = trained.keras_file()
        self.trained, self.out, self.tflm = trained, Path(out), tflm
        self.shipped = Shipped()
        self.macs = (
            macs if macs is not None else run_isolated(f"{trained.name}: counting MACs", keras_macs, self.keras_path)
        )

    def try_convert(self, mode: str) -> bytes | None:
        """The flatbuffer, or None with the refusal recorded (the run goes on with the other modes)."""
        try:
            model_bytes = convert_model(self.keras_path, mode, self.trained.calibration)
        except ConversionFailed as exc:
            log.warning("%s", exc)
            self.shipped.attempts.append({"model": self.trained.name, "mode": mode, "ok": False, "error": str(exc)})
            return None
        self.shipped.attempts.append({"model": self.trained.name, "mode": mode, "ok": True, "bytes": len(model_bytes)})
        return model_bytes

    def convert_or_fail(self, mode: str) -> bytes:
        """The flatbuffer; a refusal (recorded, as by :meth:`try_convert`) raises :class:`ConversionFailed`."""
        model_bytes = self.try_convert(mode)
        if model_bytes is None:
            raise ConversionFailed(self.shipped.attempts[-1]["error"])
        return model_bytes

    def predict(self, path: Path, model_bytes: bytes) -> np.ndarray:
        summary = summarize(model_bytes)
        return litert_predict(path, self.trained.window, (summary.input, summary.output), self.trained.x_val)

    def reference(self) -> np.ndarray | None:
        """LiteRT predictions of the float32 conversion on the held-out windows (not shipped; scores fidelity), or
        None when float32 does not convert."""
        float_bytes = self.try_convert("float32")
        if float_bytes is None:
            return None
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "reference.tflite"
            path.write_bytes(float_bytes)
            return self.predict(path, float_bytes)

    def ship(self, name: str, mode: str, model_bytes: bytes, reference: np.ndarray | None) -> np.ndarray:
        """Write ``<name>.tflite`` and its C array, score it, add its entry; returns its LiteRT predictions."""
        t = self.trained
        path = self.out / f"{name}.tflite"
        path.write_bytes(model_bytes)
        self.shipped.files += [path.name, *_write_texts(self.out, c_arrays.render(name, model_bytes))]
        summary = summarize(model_bytes)
        predictions = self.predict(path, model_bytes)
        metrics: dict[str, Any] = {
            "mode": mode,
            "ops": summary.op_counts,
            "training": t.metrics,
            "task": task_metrics(predictions, t.y_val, t.scaling),
        }
        if reference is not None:
            metrics["fidelity"] = compare(reference, predictions, t.y_val, t.scaling)
        arena = None
        if mode == "int8" and self.tflm:
            proof = prove_on_tflm(model_bytes, (summary.input, summary.output), t.x_val, predictions)
            arena = proof.arena_bytes
            metrics["tflm"] = {
                "arena_bytes": arena,
                "max_steps_vs_litert": proof.max_steps,
                f"within_{AGREEMENT_STEPS}_steps": proof.within(AGREEMENT_STEPS),
                "step_histogram": proof.step_histogram,
                "task": compare(predictions, proof.outputs, t.y_val, t.scaling),
            }
            if proof.max_steps > AGREEMENT_STEPS:
                log.warning(
                    "%s: TFLM differs from LiteRT by more than %d steps on %.2f%% of windows (max %d)",
                    name,
                    AGREEMENT_STEPS,
                    100 * (1 - proof.within(AGREEMENT_STEPS)),
                    proof.max_steps,
                )
        self.shipped.entries.append(
            family(ModelKind.TFLITE).entry(
                name=name,
                window=t.window,
                scaling=t.scaling,
                file=path.name,
                input=summary.input,
                output=summary.output,
                macs=self.macs,
                parameters=t.parameters,
                arena_bytes=arena,
                metrics=metrics,
                notes=f"{t.name}, {mode}: {' '.join(summary.ops)}",
            )
        )
        return predictions


def convert_seed(trained: TrainedModel, out: Path, tflm: bool) -> Shipped:
    """``lstm_float32`` and ``lstm_int8``: both must convert, or the command fails."""
    converter = NetworkConverter(trained, out, tflm)
    shipped = {mode: converter.convert_or_fail(mode) for mode in ("float32", "int8")}
    reference = converter.ship("lstm_float32", "float32", shipped["float32"], None)
    converter.ship("lstm_int8", "int8", shipped["int8"], reference)
    return converter.shipped


def convert_big(trained: TrainedModel, out: Path, modes: tuple[str, ...], tflm: bool) -> Shipped:
    """The first of ``modes`` that converts is shipped as ``<name>_<mode>``; the float32 reference is not
    shipped (too big for the point being made) but scores the fidelity."""
    converter = NetworkConverter(trained, out, tflm)
    reference = converter.reference()
    for mode in modes:
        model_bytes = converter.try_convert(mode)
        if model_bytes is not None:
            converter.ship(f"{trained.name}_{mode}", mode, model_bytes, reference)
            break
    return converter.shipped
