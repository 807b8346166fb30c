"""Test assets for the device agent, built the way convert/ builds the real ones: a manifest with linreg (float and
Q15), persistence, the trend line and, when asked, a tiny LSTM as float32 and full-int8 TFLite.

Tests may use TensorFlow and pandas to make these; the agent under test never does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from device.contract import MEASUREMENTS, FillPolicy, MinMaxScaling, WindowSpec, feature_matrix, make_windows
from device.models.families import family
from device.models.families.linreg import LinearRegression, LinregDocument, write_document
from device.models.families.tflite import TensorInfo
from device.models.kinds import ModelKind
from device.models.manifest import Manifest, describe_files, write_manifest
from train.data import Measurements, load_measurements

REPO = Path(__file__).resolve().parents[1]
BUNDLED = REPO / "data" / "household_power_14d.txt"
LINREG_SPEC = WindowSpec(features=("gap",))
LSTM_SPEC = WindowSpec(features=("gap", "hour_sin", "hour_cos"))
#: 30 steps x 4 gates x 4 units x (3 inputs + 4 recurrent) + the head; 90 x 8 + 8 for the dense network.
TFLITE_MACS = {"lstm_float32": 30 * 4 * 4 * 7 + 4, "dense_int8": 90 * 8 + 8}
TFLITE_MODELS = tuple(TFLITE_MACS)


@dataclass(frozen=True)
class Series:
    """Raw rows (NaN where the file had ``?``) and their minutes: what a replay publishes."""

    minutes: np.ndarray
    raw: np.ndarray  # (n, 7) float64 in MEASUREMENTS order

    @classmethod
    def bundled(cls, start: int = 0, rows: int = 3000) -> Series:
        m: Measurements = load_measurements(BUNDLED).rows(slice(start, start + rows))
        return cls(m.minutes.copy(), np.stack([m.values[k] for k in MEASUREMENTS], axis=1))

    def __len__(self) -> int:
        return len(self.minutes)

    def filled(self) -> np.ndarray:
        from device.contract import forward_fill

        return forward_fill(self.raw)

    def features(self, spec: WindowSpec) -> np.ndarray:
        filled = self.filled()
        return feature_matrix({k: filled[:, i] for i, k in enumerate(MEASUREMENTS)}, self.minutes, spec.features)


def _scaling(series: Series, spec: WindowSpec) -> MinMaxScaling:
    return MinMaxScaling.fit(series.features(spec), series.filled()[:, MEASUREMENTS.index("gap")])


def _linreg(series: Series, scaling: MinMaxScaling, spec: WindowSpec) -> LinearRegression:
    gap = series.filled()[:, MEASUREMENTS.index("gap")]
    x, y = make_windows(
        scaling.transform(series.features(spec)),
        scaling.transform_target(gap),
        spec,
        np.isnan(series.raw[:, MEASUREMENTS.index("gap")]),
    )
    return LinearRegression.fit(spec, x, y)


def _tflite_models(
    directory: Path, series: Series, scaling: MinMaxScaling
) -> dict[str, tuple[str, TensorInfo, TensorInfo]]:
    """A 4-unit LSTM as float32 and a small dense network as full int8 (this TensorFlow's converter crashes on an
    int8 Keras 3 LSTM; the int8 path of the runtime is the same for any model)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras
    import tensorflow as tf
    from ai_edge_litert.interpreter import Interpreter

    gap = series.filled()[:, MEASUREMENTS.index("gap")]
    x, y = make_windows(scaling.transform(series.features(LSTM_SPEC)), scaling.transform_target(gap), LSTM_SPEC)
    keras.utils.set_random_seed(0)
    shape = (LSTM_SPEC.seq_len, LSTM_SPEC.n_features)
    networks = {
        "lstm_float32": keras.Sequential(
            [keras.Input(shape, batch_size=1), keras.layers.LSTM(4), keras.layers.Dense(1)]
        ),
        "dense_int8": keras.Sequential(
            [
                keras.Input(shape, batch_size=1),
                keras.layers.Flatten(),
                keras.layers.Dense(8, activation="relu"),
                keras.layers.Dense(1),
            ]
        ),
    }
    out = {}
    for name, model in networks.items():
        model.compile("adam", "mse")
        model.fit(x[:512], y[:512], epochs=1, batch_size=32, verbose=0)
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        if name.endswith("int8"):
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: ([w[None]] for w in x[:200])
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = converter.inference_output_type = tf.int8
        (directory / f"{name}.tflite").write_bytes(converter.convert())
        interpreter = Interpreter(model_path=str(directory / f"{name}.tflite"))
        infos = []
        for d in (interpreter.get_input_details()[0], interpreter.get_output_details()[0]):
            scale, zero = d["quantization"]
            infos.append(TensorInfo(tuple(int(s) for s in d["shape"]), np.dtype(d["dtype"]).name, scale, zero))
        out[name] = (f"{name}.tflite", *infos)
    return out


def build_assets(
    directory: Path, series: Series, with_tflite: bool = False, fill_policy: FillPolicy = FillPolicy.FORWARD_FILL
) -> Path:
    """Write a manifest and its files into ``directory`` through the model families, as convert/ does; returns the
    directory. The numpy models follow ``fill_policy``."""
    directory.mkdir(parents=True, exist_ok=True)
    spec = replace(LINREG_SPEC, fill_policy=fill_policy)
    scaling = _scaling(series, spec)
    document = LinregDocument.of("linreg", _linreg(series, scaling, spec), scaling)
    json_name = write_document(directory, document)
    entries = [
        family(ModelKind.LINREG).entry(name="linreg", **document.entry_fields(json_name)),
        family(ModelKind.LINREG_Q15).entry(name="linreg_q15", **document.entry_fields(json_name)),
        family(ModelKind.PERSISTENCE).entry(name="persistence", window=spec, scaling=scaling),
        family(ModelKind.TREND_LINE).entry(name="trend_line", window=spec, scaling=scaling),
    ]
    if with_tflite:
        lstm_scaling = _scaling(series, LSTM_SPEC)
        for name, (file, inp, out) in _tflite_models(directory, series, lstm_scaling).items():
            entries.append(
                family(ModelKind.TFLITE).entry(
                    name=name,
                    window=LSTM_SPEC,
                    scaling=lstm_scaling,
                    file=file,
                    input=inp,
                    output=out,
                    macs=TFLITE_MACS[name],
                )
            )
    files = sorted({e.file for e in entries if e.file})
    write_manifest(directory, Manifest({e.name: e for e in entries}, describe_files(directory, files)))
    return directory


def build_assets_in_child(directory: Path) -> Path:
    """All assets, TFLite included, made in a child process (see the ``__main__`` block)."""
    import subprocess
    import sys

    subprocess.run(
        [sys.executable, "-m", "tests.device_assets", str(directory)],
        cwd=REPO,
        check=True,
        capture_output=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    return directory


if __name__ == "__main__":
    # Run in a child process by the tests, so the test process never loads TensorFlow next to the LiteRT runtime.
    import sys

    build_assets(Path(sys.argv[1]), Series.bundled(), with_tflite=True)


def offline_metrics(model, series: Series) -> dict:
    """The host's streaming evaluation of one loaded model over a series: contract windows (a row whose target is
    NaN in the raw series counts as filled, for the DROP policy), batch predict, kW."""
    from device.contract import streaming_windows
    from device.scoring import error_metrics

    spec, scaling = model.entry.window, model.scaling
    gap = series.filled()[:, MEASUREMENTS.index("gap")]
    missing = np.isnan(series.raw[:, MEASUREMENTS.index("gap")])
    x, _, end_rows = streaming_windows(
        scaling.transform(series.features(spec)), scaling.transform_target(gap), spec, missing
    )
    predicted = scaling.inverse_target(model.predictor.predict(x, np.minimum(end_rows + 1, spec.seq_len)))
    return error_metrics(predicted, gap[end_rows + spec.horizon])
