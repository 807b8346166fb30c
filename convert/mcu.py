"""A microcontroller search candidate (a :mod:`train.search` hand-over) to a full-int8 model scored on every test
window, with the least squares on the same inputs beside it.

The hand-over keeps only 2,000 held-out windows (enough for fidelity and the TFLM proof); the issue's figure is the
int8 error on *all* test windows of the search's protocol, so the test part is rebuilt from the split the hand-over
records (:class:`train.data.SplitSpec`, through the dataset module train cut it with; the scaling must come out
identical, or the windows are not the ones the model was trained for) and every window runs through the device's
own LiteRT predictor, state reset before each.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from convert.config import MCU_NAME, twin_name
from convert.entry_fields import entry_file, entry_scaling, entry_tensors
from convert.fidelity import task_metrics
from convert.linreg_assets import write_linreg_json
from convert.networks import NetworkConverter, Shipped
from device.contract import MinMaxScaling, WindowSpec
from device.models.families.tflite import TFLiteEntry, TFLitePredictor
from train.artifacts import COPIED_FROM, TrainedModel, load_trained_model
from train.data import Split, SplitSpec, data_source, load_split
from train.windows import SplitWindows, cut_windows

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AllTestWindows:
    """Every scaled test window of one window spec, as the search scored its float model on them."""

    x: np.ndarray
    y: np.ndarray


@dataclass
class WindowCache:
    """Test windows per split and feature set, cut once per process (the full file's split takes a while)."""

    by_key: dict[tuple[SplitSpec, tuple[str, ...]], AllTestWindows] = field(default_factory=dict)

    def test_windows(self, trained: TrainedModel) -> AllTestWindows:
        """All test windows of ``trained``'s split and window (see :meth:`windows_for`)."""
        return self.windows_for(trained.recorded_split(), trained.window, trained.scaling)

    def windows_for(self, spec: SplitSpec, window: WindowSpec, scaling: MinMaxScaling) -> AllTestWindows:
        """All test windows of the split ``spec`` cut for ``window``; raises ValueError if the rebuilt split scales
        otherwise than ``scaling``, since those would not be the windows the model was trained for."""
        key = (spec, window.features)
        if key not in self.by_key:
            self.by_key.clear()  # the full file's windows take about a gigabyte per feature set
            _, windows = rebuilt_windows(spec, window, scaling)
            self.by_key[key] = AllTestWindows(windows.x_test, windows.y_test)
        return self.by_key[key]


def rebuilt_windows(spec: SplitSpec, window: WindowSpec, scaling: MinMaxScaling) -> tuple[Split, SplitWindows]:
    """The split ``spec`` rebuilt and cut for ``window``; raises ValueError if it scales otherwise than ``scaling``,
    since those would not be the windows the model was trained for."""
    split = load_split(spec)
    windows = cut_windows(split.series, split.train, split.test, window)
    if windows.scaling != scaling:
        raise ValueError(
            f"the split rebuilt from {spec.data} for {window.features} scales differently from the "
            "model; these are not the windows it was trained for"
        )
    return split, windows


def full_test_metrics(entry: TFLiteEntry, path: Path, windows: AllTestWindows) -> dict[str, Any]:
    """MSE/MAE/... in kW of the shipped ``.tflite`` under LiteRT on every test window."""
    from ai_edge_litert.interpreter import Interpreter

    predictor = TFLitePredictor(path, entry.window, *entry_tensors(entry), Interpreter)
    predictions = predictor.predict(windows.x, np.full(len(windows.x), entry.window.seq_len))
    return task_metrics(predictions, windows.y, entry_scaling(entry))


def ship_int8(converter: NetworkConverter, name: str, reference: np.ndarray | None) -> TFLiteEntry:
    """``<name>.tflite`` in full int8 with its C array, scored against ``reference`` (float32 LiteRT predictions of
    the held-out windows) when given; a refusal raises :class:`convert.tflite_convert.ConversionFailed`, as an MCU
    model has no other mode to fall back on."""
    converter.ship(name, "int8", converter.convert_or_fail("int8"), reference)
    entry = converter.shipped.entries[-1]
    if not isinstance(entry, TFLiteEntry):
        raise TypeError(f"{name}: shipped a {type(entry).__name__}, not a TFLite entry")
    return entry


def convert_candidate(trained: TrainedModel, out: Path, name: str, cache: WindowCache, tflm: bool) -> Shipped:
    """``<name>.tflite`` (full int8, fused LSTM), its C array and manifest entry, with the int8 error on every test
    window next to the float model's (the search's Keras figure, same windows) under ``metrics["full_test"]``."""
    converter = NetworkConverter(trained, out, tflm, macs=trained.extra.get("macs"))  # the search counted them
    entry = ship_int8(converter, name, converter.reference())
    windows = cache.test_windows(trained)
    int8 = full_test_metrics(entry, out / entry_file(entry), windows)
    float_test = trained.metrics["test"]
    if float_test["n"] != int8["n"]:
        raise ValueError(f"{trained.name}: the float figure is on {float_test['n']} windows, int8 on {int8['n']}")
    entry.metrics["full_test"] = {"windows": int8["n"], "int8": int8, "float_keras": float_test}
    log.info(
        "%s: int8 test MSE %.4f MAE %.4f on %d windows (float %.4f / %.4f)",
        name,
        int8["mse"],
        int8["mae"],
        int8["n"],
        float_test["mse"],
        float_test["mae"],
    )
    return converter.shipped


def least_squares_twin(models_dir: Path, trained: TrainedModel) -> TrainedModel:
    """The search's least squares handed over with exactly ``trained``'s window (same features and lags)."""
    for meta in sorted(Path(models_dir).glob("linreg_*.json")):
        twin = load_trained_model(models_dir, meta.stem)
        if twin.window == trained.window:
            return twin
    raise FileNotFoundError(
        f"no least squares on {trained.window.features} in {models_dir}; re-run train.search "
        "(it hands over every least-squares baseline)"
    )


def ship_mcu_model(handover: Path, out: Path, tflm: bool, name: str = MCU_NAME) -> Shipped:
    """The microcontroller model handed over at ``handover`` (``runs/search/models/<candidate>``, or a house's
    ``runs/house/models/<name>``) as ``name``, and its least-squares twin as :func:`convert.config.twin_name`, into
    ``out``; every entry records where it came from (:func:`train.data.data_source`: a file's sha256, or a
    recording's folder, meter, fingerprint, first and last minute)."""
    models_dir, candidate = Path(handover).parent, Path(handover).name
    trained = load_trained_model(models_dir, candidate)
    shipped = convert_candidate(trained, Path(out), name, WindowCache(), tflm)
    twin = least_squares_twin(models_dir, trained)
    twin_entry, twin_files = write_linreg_json(
        twin,
        Path(out),
        twin_name(name),
        notes=f"float least squares on every lag of {'+'.join(twin.window.features)}"
        f" (the inputs of {name}), so the comparison is fair; JSON only (the C export reads raw readings only)",
    )
    shipped.entries.append(twin_entry)
    shipped.files += twin_files
    source = {"hand_over": str(handover), **data_source(trained.recorded_split().data)}
    if COPIED_FROM in trained.extra:
        source[COPIED_FROM] = trained.extra[COPIED_FROM]
    for entry in shipped.entries:
        entry.metrics["source"] = {**source, "trained_as": trained.name if entry.name == name else twin.name}
    return shipped
