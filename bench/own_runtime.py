"""µs per window of the int8 LSTMs on the project's own C runtime (the agent's ``--runtime wattcast``) against LiteRT,
on the same streaming windows: a whole batch in one call, one window a call, and LiteRT's one invoke per window.

Two levels per runtime: ``int8`` times the runtime alone on already-quantized windows (the own runtime's
``predict_q``, LiteRT's reset + set_tensor + invoke + get_tensor); ``agent`` times the predictor the agent calls,
float windows in and out (quantize and dequantize included). Medians over ``--repeats`` runs. Pin it to one core for
comparable figures: ``taskset -c 0 python -m bench.own_runtime``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.inference import stream_windows
from device.models.families.tflite import TFLiteEntry, TFLitePredictor, quantize
from device.models.load import LoadedModel, load_models
from device.models.manifest import DEFAULT_ASSETS
from device.models.wattcast_runtime import WATTCAST, WattcastPredictor
from device.options import build_parser, option, parse_options
from train.data import DEFAULT_DATA

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OwnRuntimeBenchConfig:
    assets: Path = option(DEFAULT_ASSETS, "folder with manifest.json")
    models: tuple[str, ...] = option(("lstm_int8", "mcu_lstm_int8"), "int8 LSTMs of the manifest to time")
    data: Path = option(DEFAULT_DATA, "readings to cut windows from", exists=True)
    windows: int = option(2000, "windows per model")
    repeats: int = option(5, "runs per measurement; the median is shown")


@dataclass(frozen=True)
class Row:
    model: str
    runtime: str
    how: str
    us_per_window: float


def per_window_us(call: Callable[[], object], windows: int, repeats: int) -> float:
    """Median over ``repeats`` of one run of ``call`` (which handles ``windows`` windows), per window, in µs."""
    runs = []
    for _ in range(repeats):
        start = time.perf_counter_ns()
        call()
        runs.append((time.perf_counter_ns() - start) / windows / 1e3)
    return float(np.median(runs))


def _each(call: Callable[[int], object], n: int) -> Callable[[], None]:
    def run() -> None:
        for i in range(n):
            call(i)

    return run


def _rows(own: LoadedModel, lite: LoadedModel, config: OwnRuntimeBenchConfig) -> list[Row]:
    if not isinstance(own.predictor, WattcastPredictor) or not isinstance(lite.predictor, TFLitePredictor):
        raise TypeError(f"{own.name}: expected the own runtime and LiteRT, got {own.runtime} and {lite.runtime}")
    x, n_real = stream_windows(config.data, own.entry.window, own.scaling, config.windows)
    if not isinstance(own.entry, TFLiteEntry) or own.entry.input is None:
        raise TypeError(f"{own.name}: not a tflite entry with its input tensor")
    x_q = quantize(x, own.entry.input)
    n, o, li = len(x), own.predictor, lite.predictor
    timed = [
        (WATTCAST, "int8, the batch in one call", lambda: o.predict_q(x_q)),
        (WATTCAST, "int8, one window a call", _each(lambda i: o.predict_q(x_q[i : i + 1]), n)),
        (lite.runtime, "int8, one invoke a window", _each(lambda i: li._invoke(x_q[i : i + 1]), n)),
        (WATTCAST, "agent predict, the batch in one call", lambda: o.predict(x, n_real)),
        (WATTCAST, "agent predict, one window a call", _each(lambda i: o.predict(x[i : i + 1], n_real[i : i + 1]), n)),
        (lite.runtime, "agent predict, the batch in one call", lambda: li.predict(x, n_real)),
        (
            lite.runtime,
            "agent predict, one window a call",
            _each(lambda i: li.predict(x[i : i + 1], n_real[i : i + 1]), n),
        ),
    ]
    return [Row(own.name, runtime, how, per_window_us(call, n, config.repeats)) for runtime, how, call in timed]


def run(config: OwnRuntimeBenchConfig) -> list[Row]:
    own_models = load_models(config.assets, config.models, runtime=WATTCAST)
    lite_models = load_models(config.assets, config.models, runtime="litert")
    return [row for own, lite in zip(own_models, lite_models) for row in _rows(own, lite, config)]


def table(rows: list[Row]) -> str:
    lines = ["| model | runtime | how | µs per window (median) |", "|---|---|---|---:|"]
    lines += [f"| {r.model} | {r.runtime} | {r.how} | {r.us_per_window:,.2f} |" for r in rows]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    config = parse_options(
        OwnRuntimeBenchConfig,
        argv,
        build_parser(OwnRuntimeBenchConfig, "python -m bench.own_runtime", __doc__, "WARNING"),
    )
    print(table(run(config)))


if __name__ == "__main__":
    main()
