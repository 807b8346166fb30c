"""The one configuration of ``python -m convert.quantize``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from device.families.baselines import DEFAULT_TREND_K
from train.data import DEFAULT_DATA

#: The networks a run may hold; the seed LSTM ships as ``lstm_int8`` / ``lstm_float32``, the others as
#: ``<name>_<mode>``.
NETWORKS = ("seed_lstm", "augmented_lstm", "cnn_bilstm")
#: Tried in this order for the bigger models; the first mode that converts is shipped.
BIG_MODEL_MODES = ("int8", "dynamic", "float16")
TRAIN_CHOICES = ("auto", "always", "never")
#: TFLM's int8 outputs are reported against LiteRT's within this many output quantization steps.
AGREEMENT_STEPS = 2


@dataclass(frozen=True)
class QuantizeConfig:
    """Where the trained models are, what to convert, and where the assets go."""

    data: Path = DEFAULT_DATA
    run_dir: Path | None = None  # None: runs/latest for the bundled data, runs/<data file stem> for any other
    out: Path = Path("firmware_assets")
    networks: tuple[str, ...] = NETWORKS
    big_model_modes: tuple[str, ...] = BIG_MODEL_MODES
    train: str = "auto"  # auto: train the seed LSTM and linreg when the run dir lacks them or used other data
    epochs: int = 100  # for that training only
    seed: int = 0
    tflm: bool = True  # prove the int8 models on TFLM (arena bisection); off only to save time in tests
    trend_k: int = DEFAULT_TREND_K
    # A train.search hand-over (runs/search/models/<candidate>) shipped as mcu_lstm_int8, with its least squares
    mcu_model: Path | None = None
    add: bool = False  # convert only mcu_model and merge it into the existing manifest, keeping every other asset

    def __post_init__(self) -> None:
        if self.add and self.mcu_model is None:
            raise ValueError("add merges the microcontroller model into the existing assets: it needs mcu_model")
        if self.train not in TRAIN_CHOICES:
            raise ValueError(f"train must be one of {TRAIN_CHOICES}, got {self.train!r}")
        unknown = set(self.networks) - set(NETWORKS)
        if unknown:
            raise ValueError(f"unknown networks {sorted(unknown)}; known: {NETWORKS}")

    @property
    def resolved_run_dir(self) -> Path:
        if self.run_dir is not None:
            return Path(self.run_dir)
        if Path(self.data).resolve() == DEFAULT_DATA.resolve():
            return Path("runs/latest")
        return Path("runs") / Path(self.data).name.split(".")[0]
