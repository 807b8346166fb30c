"""The one configuration of ``python -m convert.quantize`` (its ``--help`` is generated from these fields)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from convert.tflite_convert import MODES
from device.models.families.baselines import DEFAULT_TREND_K
from device.models.manifest import DEFAULT_ASSETS
from device.options import option

#: The networks a run may hold; the seed LSTM ships as ``lstm_int8`` / ``lstm_float32``, the others as
#: ``<name>_<mode>``.
NETWORKS = ("seed_lstm", "augmented_lstm", "cnn_bilstm")
#: Tried in this order for the bigger models; the first mode that converts is shipped.
BIG_MODEL_MODES = ("int8", "dynamic", "float16")
#: TFLM's int8 outputs are reported against LiteRT's within this many output quantization steps.
AGREEMENT_STEPS = 2
#: What the microcontroller model ships as by default, and its least-squares twin.
MCU_NAME = "mcu_lstm_int8"
LINREG_TWIN_NAME = "linreg_cal"
_NAME = re.compile(r"[a-z][a-z0-9_]*")


def twin_name(mcu_name: str) -> str:
    """The least squares shipped beside ``mcu_name``, named after it."""
    return LINREG_TWIN_NAME if mcu_name == MCU_NAME else f"{mcu_name}_linreg"


@dataclass(frozen=True)
class QuantizeConfig:
    """Which training run's hand-over to convert, what to convert, and where the assets go."""

    run_dir: Path = option(
        Path("runs/latest"),
        "training run folder holding report.json and models/ (python -m "
        "train --out); it must hold at least linreg (python -m train --models linreg seed_lstm)",
    )
    out: Path = option(DEFAULT_ASSETS, "where the assets and manifest.json are written")
    networks: tuple[str, ...] = option(
        NETWORKS,
        "networks to convert when the run folder has them (linreg and the baselines always ship)",
        choices=NETWORKS,
    )
    big_model_modes: tuple[str, ...] = option(
        BIG_MODEL_MODES,
        "quantization modes tried in order for the augmented "
        "LSTM and the CNN-BiLSTM; the first that converts ships (int16x8 is "
        "refused by this converter for the fused LSTM)",
        choices=MODES,
    )
    tflm: bool = option(
        True,
        "prove the int8 models on TFLM with the smallest arena found by bisection; "
        "--no-tflm skips that to save time (the manifest then has no arena_bytes)",
    )
    trend_k: int = option(DEFAULT_TREND_K, "readings the trend-line baseline fits")
    mcu_model: Path | None = option(
        None,
        "a microcontroller model's hand-over: a search candidate, runs/search/"
        "models/<candidate> (python -m train.search), or one retrained on a house's "
        "recording, runs/house/models/<name> (python -m train --data RECORDING): shipped "
        "as --mcu-name (full int8, proven on TFLM, int8 error on every test window of its "
        "data) with the least squares on the same inputs beside it; unset: only the "
        "run's models",
    )
    mcu_name: str = option(
        MCU_NAME,
        f"the name --mcu-model ships under (a retrained model beside the shipped one: "
        f"e.g. mcu_lstm_house); its least squares ships as {LINREG_TWIN_NAME} for {MCU_NAME}, as "
        "<name>_linreg otherwise",
    )
    add: bool = option(
        False,
        "convert only --mcu-model and merge it into the existing manifest.json, keeping every "
        "other model and file (their hashes are checked first); without it the folder is regenerated",
    )
    force: bool = option(
        False,
        "regenerate --out even though its manifest lists models this run would not write "
        "again (they are deleted); without it such a run is refused and nothing is touched",
    )

    def __post_init__(self) -> None:
        if not _NAME.fullmatch(self.mcu_name):
            raise ValueError(
                f"--mcu-name {self.mcu_name!r}: use lower-case letters, digits and _ (it names files, C "
                "symbols and MQTT topics), starting with a letter"
            )
        if self.add and self.mcu_model is None:
            raise ValueError("add merges the microcontroller model into the existing assets: it needs mcu_model")
        unknown = set(self.networks) - set(NETWORKS)
        if unknown:
            raise ValueError(f"unknown networks {sorted(unknown)}; known: {NETWORKS}")
