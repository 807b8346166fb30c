"""The shipped model and the one retrained on a house's recording, side by side on the recording's held-out days,
int8 both, under LiteRT.

``python -m train --data RECORDING`` calls :func:`side_by_side` once its hand-over is on disk (the one place train
uses convert: see ``tests/test_rooms.py``). The retrained hand-over is converted to full int8 by the converter the
assets are made with (:func:`convert.tflite_convert.convert_model`, the bytes ``convert.quantize --mcu-model``
ships); the shipped ``.tflite`` runs from the assets' manifest, hashes verified, with its own scaling and inputs
computed over the recording. Persistence and the retrained least squares run on the same windows, so every row
forecasts the same minutes.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from convert.entry_fields import is_int8_tflite
from convert.fidelity import litert_predict, task_metrics
from convert.flatbuffer import summarize
from convert.mcu import least_squares_twin, rebuilt_windows
from convert.tflite_convert import convert_model
from device.models.entry import ModelEntry
from device.models.families.baselines import Persistence
from device.models.families.linreg import LinearRegression
from device.models.load import load_models
from device.models.manifest import load_manifest, locate_assets
from train.artifacts import load_trained_model
from train.data import Split
from train.windows import SplitWindows, cut_windows

log = logging.getLogger(__name__)
#: Targets of two window sets must agree to this many kW to be the same minutes (float32 scaling round trip).
SAME_TARGET_KW = 1e-3


@dataclass(frozen=True)
class Scored:
    """One row: a model's error in kW on the held-out windows."""

    name: str
    what: str
    inputs: tuple[str, ...]
    metrics: dict[str, Any]  # device.scoring.error_metrics: n, mse, rmse, mae, ...

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "what": self.what, "inputs": list(self.inputs), **self.metrics}


@dataclass
class SideBySide:
    """The rows, best first in :attr:`winner`, with what a reader must know (a stand-in for the shipped model)."""

    rows: list[Scored]
    shipped: str | None  # the shipped model in the table, None if no shipped int8 model takes these inputs
    retrained: str
    notes: list[str] = field(default_factory=list)

    @property
    def winner(self) -> Scored:
        return min(self.rows, key=lambda r: r.metrics["mse"])

    @property
    def windows(self) -> int:
        return int(self.rows[0].metrics["n"])

    def table(self) -> str:
        """Markdown, one row per model; ``vs shipped`` is the MSE ratio (< 1: better than the shipped model)."""
        shipped = next((r.metrics["mse"] for r in self.rows if r.name == self.shipped), float("nan"))
        lines = [
            "| model | what | inputs | windows | MSE (kW²) | RMSE (kW) | MAE (kW) | vs shipped |",
            "|---|---|---|---:|---:|---:|---:|---:|",
        ]
        for r in self.rows:
            m = r.metrics
            best = "**" if r is self.winner else ""
            ratio = "–" if shipped != shipped else f"{m['mse'] / shipped:.3f}"  # NaN != NaN: no shipped row
            lines.append(
                f"| {best}{r.name}{best} | {r.what} | {'+'.join(r.inputs)} | {m['n']:,} | {m['mse']:.4f} | "
                f"{m['rmse']:.4f} | {m['mae']:.4f} | {ratio} |"
            )
        return "\n".join(lines)

    def summary(self) -> str:
        """One sentence: who wins, and the retrained model against the shipped one."""
        text = f"Lowest MSE: {self.winner.name} ({self.winner.what})."
        by_name = {r.name: r.metrics["mse"] for r in self.rows}
        if self.shipped is not None:
            change = 100 * (by_name[self.retrained] / by_name[self.shipped] - 1)
            text += (
                f" The retrained int8 model's MSE is {abs(change):.1f}% {'below' if change < 0 else 'above'} "
                f"the shipped {self.shipped}'s on the same {self.windows:,} windows."
            )
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": [r.to_dict() for r in self.rows],
            "shipped": self.shipped,
            "retrained": self.retrained,
            "winner": self.winner.name,
            "windows": self.windows,
            "notes": self.notes,
            "summary": self.summary(),
        }


def _int8_entries(manifest_models: dict[str, ModelEntry]) -> dict[str, ModelEntry]:
    return {n: e for n, e in manifest_models.items() if is_int8_tflite(e)}


def shipped_candidates(
    assets: Path, shipped: str, available: tuple[str, ...], seq_len: int, horizon: int
) -> tuple[list[str], list[str]]:
    """The shipped int8 models to score: ``shipped`` if the recording has its inputs, else every shipped int8 model
    on inputs it has and on the same window (the best one stands in); with notes saying which and why."""
    int8 = _int8_entries(load_manifest(locate_assets(assets)).models)
    if shipped not in int8:
        raise KeyError(f"{assets}: no int8 TFLite model {shipped!r} in its manifest (int8 models: {sorted(int8)})")
    fits = {
        n
        for n, e in int8.items()
        if set(e.needed_measurements) <= set(available) and (e.window.seq_len, e.window.horizon) == (seq_len, horizon)
    }
    if shipped in fits:
        return [shipped], []
    lacking = sorted(set(int8[shipped].needed_measurements) - set(available))
    why = f"the recording lacks {', '.join(lacking)}" if lacking else "its window differs from the retrained model's"
    if not fits:
        return [], [
            f"{shipped} is not compared: {why}, and no other shipped int8 model takes the inputs the "
            f"recording has ({', '.join(available)})."
        ]
    return sorted(fits), [
        f"{shipped} is not compared: {why}. The best of the shipped int8 models on inputs the "
        f"recording has ({', '.join(sorted(fits))}) on these days stands in for it."
    ]


def shipped_row(assets: Path, shipped: str, split: Split, reference: SplitWindows) -> tuple[Scored | None, list[str]]:
    """The shipped model under LiteRT on the held-out days, with its own scaling and inputs computed over the
    recording (or the best stand-in, :func:`shipped_candidates`), and notes saying which and why. Its windows must
    forecast the same minutes as ``reference``'s."""
    names, notes = shipped_candidates(
        assets, shipped, split.series.available, reference.spec.seq_len, reference.spec.horizon
    )
    rows = []
    for loaded in load_models(assets, tuple(names), runtime="litert") if names else []:  # (): every model
        window = replace(loaded.entry.window, fill_policy=reference.spec.fill_policy)
        own = cut_windows(split.series, split.train, split.test, window, scaling=loaded.scaling)
        targets, expected = (
            loaded.scaling.inverse_target(own.y_test),
            reference.scaling.inverse_target(reference.y_test),
        )
        if len(targets) != len(expected) or not np.allclose(targets, expected, atol=SAME_TARGET_KW):
            raise ValueError(f"{loaded.name}: its windows do not forecast the same minutes as the retrained model's")
        predictions = loaded.predictor.predict(own.x_test, own.n_real_test)
        what = "shipped, int8 (LiteRT)" + ("" if loaded.name == shipped else f"; stands in for {shipped}")
        rows.append(Scored(loaded.name, what, window.features, task_metrics(predictions, own.y_test, loaded.scaling)))
    if not rows:
        return None, notes
    best = min(rows, key=lambda r: r.metrics["mse"])
    if len(rows) > 1:
        others = ", ".join(f"{r.name} {r.metrics['mse']:.4f}" for r in rows if r is not best)
        notes.append(f"Stand-in: {best.name} (MSE of the others on these days: {others}).")
    return best, notes


def side_by_side(models_dir: Path, candidate: str, assets: Path, shipped: str) -> SideBySide:
    """Persistence, the retrained least squares, the shipped int8 model and the retrained one converted to int8, on
    every held-out window of the split the hand-over ``models_dir/candidate`` records."""
    trained = load_trained_model(models_dir, candidate)
    twin = least_squares_twin(models_dir, trained)
    split, windows = rebuilt_windows(trained.recorded_split(), trained.window, trained.scaling)
    if twin.scaling != trained.scaling:
        raise ValueError(f"{twin.name} scales differently from {candidate}: they were not trained on the same windows")
    x, y, n_real, spec = windows.x_test, windows.y_test, windows.n_real_test, trained.window
    linreg = LinearRegression.from_dict(twin.window, twin.extra)
    rows = [
        Scored(
            "persistence",
            "the last reading",
            (spec.features[0],),
            task_metrics(Persistence(spec).predict(x, n_real), y, windows.scaling),
        ),
        Scored(
            twin.name,
            "retrained least squares, float",
            spec.features,
            task_metrics(linreg.predict(x, n_real), y, windows.scaling),
        ),
    ]

    compared, notes = shipped_row(assets, shipped, split, windows)
    rows += [compared] if compared is not None else []

    model_bytes = convert_model(trained.keras_file(), "int8", trained.calibration)  # what --mcu-model ships
    flatbuffer = summarize(model_bytes)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"{candidate}_int8.tflite"
        path.write_bytes(model_bytes)
        predictions = litert_predict(path, spec, (flatbuffer.input, flatbuffer.output), x)
    rows.append(
        Scored(candidate, "retrained, int8 (LiteRT)", spec.features, task_metrics(predictions, y, windows.scaling))
    )
    result = SideBySide(rows, compared.name if compared else None, candidate, notes)
    log.info("%s", result.summary())
    return result
