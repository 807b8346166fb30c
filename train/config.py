"""The one configuration of a training run (``python -m train``); written into the report so a run can be repeated."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

from device.contract import DEFAULT_HORIZON, DEFAULT_SEQ_LEN, MEASUREMENTS, TARGET, FillPolicy
from device.models.families.baselines import DEFAULT_TREND_K
from device.models.manifest import DEFAULT_ASSETS
from device.options import option
from train.data import (
    DEFAULT_DATA,
    PAPER_CUT_DATE,
    RULE_MINUTES,
    SUBSET_FRACTION,
    SUBSET_MIN_ROWS,
    TEST_DAYS,
    TRAIN_FRACTION,
    SplitSpec,
)
from train.mcu_models import SEARCH_TRAINING
from train.recording import is_recording

PROTOCOLS = ("notebook", "paper")
#: Every model ``python -m train`` knows, in report order; the first three need no training loop.
MODELS = ("persistence", "trend_line", "linreg", "seed_lstm", "augmented_lstm", "cnn_bilstm")
KERAS_MODELS = ("seed_lstm", "augmented_lstm", "cnn_bilstm")
#: The inputs of each model: the baselines and the seed LSTM see the power alone, the notebook's augmented model adds
#: voltage and intensity, the paper's CNN-BiLSTM sees all 7 measurements.
MODEL_FEATURES: dict[str, tuple[str, ...]] = {
    "persistence": (TARGET,),
    "trend_line": (TARGET,),
    "linreg": (TARGET,),
    "seed_lstm": (TARGET,),
    "augmented_lstm": (TARGET, "v", "gi"),
    "cnn_bilstm": MEASUREMENTS,
}
#: Window length per resampling rule for the paper protocol (24 hours -> next hour as in the issue; the daily and
#: weekly lengths are our choice: a week of days, two months of weeks, the shortest the CNN-BiLSTM accepts is 7).
PAPER_SEQ_LEN = {"1min": DEFAULT_SEQ_LEN, "1h": 24, "1D": 7, "1W": 8}


@dataclass(frozen=True)
class HandoverOptions:
    """What every training command (``python -m train``, ``train.search``) does alike around its models: the
    early-stopping tail, the seed, and what it hands over to the converter beside them."""

    validation_split: float = option(
        0.05, "the most recent (chronological tail) fraction of training windows used for early stopping"
    )
    calibration_windows: int = option(1000, "training windows handed over for int8 calibration")
    handover_test_windows: int = option(2000, "evenly spaced test windows handed over for conversion fidelity checks")
    seed: int = option(
        0, "seed for the subset (notebook protocol), weight initialisation, shuffling and calibration windows"
    )


@dataclass(frozen=True)
class HouseOptions:
    """Retraining on an agent's recording (:mod:`train.house`): how much history it needs, how the shipped
    microcontroller architecture is trained on it (the search's settings, not the reference models' --epochs,
    --batch-size, --patience), and which shipped model it is compared with."""

    min_days: float = option(14.0, "a recording: refuse one spanning fewer days from its first to its last minute")
    min_real_days: float = option(7.0, "a recording: refuse one holding fewer days of real (not filled) minutes")
    test_days: int = option(
        TEST_DAYS,
        "a recording: its last this many days are held out, and the shipped and the retrained model compared on them",
    )
    house_epochs: int = option(SEARCH_TRAINING.epochs, "a recording: maximum epochs (the microcontroller search's)")
    house_patience: int = option(
        SEARCH_TRAINING.patience,
        "a recording: epochs without a better validation loss before stopping (the best checkpoint is kept)",
    )
    house_batch_size: int = option(SEARCH_TRAINING.batch_size, "a recording: training batch size")
    house_learning_rate: float = option(SEARCH_TRAINING.learning_rate, "a recording: Adam learning rate")
    assets: Path = option(
        DEFAULT_ASSETS, "a recording: the shipped assets (manifest.json) the retrained model is compared with"
    )
    shipped: str = option(
        "mcu_lstm_int8",
        "a recording: the shipped int8 model to compare with; if the recording "
        "lacks its inputs, the best shipped int8 model on inputs it has stands in (the table says "
        "so)",
    )

    def __post_init__(self) -> None:
        if self.test_days >= self.min_days:
            raise ValueError(
                f"--test-days {self.test_days} leaves nothing to train on in a recording of --min-days "
                f"{self.min_days:g}: hold out fewer days, or ask for more"
            )


#: Where a run goes when --out is not given.
DEFAULT_OUT = Path("runs/latest")
HOUSE_OUT = Path("runs/house")


class HandoverSettings(Protocol):
    """What handing a model over reads of a command's configuration: the :class:`HandoverOptions` fields."""

    @property
    def validation_split(self) -> float: ...
    @property
    def calibration_windows(self) -> int: ...
    @property
    def handover_test_windows(self) -> int: ...
    @property
    def seed(self) -> int: ...


class SplitHandover(HandoverSettings, Protocol):
    """A configuration that also names the split its rows come from, so the hand-over records it
    (:class:`TrainConfig`, :class:`train.search.SearchConfig`, :class:`train.house.HouseFit`)."""

    @property
    def split(self) -> SplitSpec: ...


@dataclass(frozen=True)
class TrainConfig(HandoverOptions):
    """Everything a run depends on (``python -m train --help`` is generated from these fields)."""

    data: Path = option(
        DEFAULT_DATA,
        "UCI data: the raw .txt, the .zip holding it, or the notebook's cleaned CSV "
        "with a Datetime column; or an agent's recording (--record DIR: one meter's folder, a root "
        "holding one meter, or one day file), which retrains the shipped microcontroller model on "
        "that house instead (the options marked 'a recording')",
        exists=True,
    )
    out_dir: Path | None = option(
        None,
        "output folder for the report, plots and models/ (the hand-over python -m convert.quantize reads)",
        flag="--out",
        shown=f"{DEFAULT_OUT}; {HOUSE_OUT} for a recording",
    )
    protocol: str = option(
        "notebook",
        "notebook: a contiguous 1% subset (at least --subset-min-rows), first 80% "
        "train, rest test; paper: train before --cut-date, test from it on",
        choices=PROTOCOLS,
    )
    resample: str = option(
        "1min", "average the series over minutes, hours, days or weeks before windowing", choices=tuple(RULE_MINUTES)
    )
    seq_len: int | None = option(
        None,
        f"readings per input window; unset: {DEFAULT_SEQ_LEN} for notebook, and for paper by "
        f"--resample {', '.join(f'{k}: {v}' for k, v in PAPER_SEQ_LEN.items())}",
    )
    horizon: int | None = option(
        None, f"steps after the last input that the target is; unset: {DEFAULT_HORIZON} for notebook, 1 for paper"
    )
    fill_policy: FillPolicy = option(
        FillPolicy.FORWARD_FILL,
        "ffill: forward-fill missing readings; drop: also "
        "forward-fill, but discard every window and target touching a missing reading",
    )
    subset_fraction: float = option(SUBSET_FRACTION, "notebook protocol: fraction of the rows in the contiguous subset")
    subset_min_rows: int = option(
        SUBSET_MIN_ROWS, "notebook protocol: the subset has at least this many rows (1% of a small file is too few)"
    )
    train_fraction: float = option(
        TRAIN_FRACTION, "notebook protocol: leading fraction of the subset used for training"
    )
    cut_date: str = option(PAPER_CUT_DATE, "paper protocol: first day of the test part (YYYY-MM-DD)")
    models: tuple[str, ...] = option(MODELS, "which models to run", choices=MODELS)
    epochs: int = option(100, "maximum training epochs per network")
    batch_size: int = option(500, "training batch size")
    patience: int = option(
        10, "stop after this many epochs without a better validation loss (the best checkpoint is kept)"
    )
    lr_seed_lstm: float = option(0.01, "Adam learning rate, seed LSTM")
    lr_augmented_lstm: float = option(0.001, "Adam learning rate, augmented LSTM")
    lr_cnn_bilstm: float = option(0.001, "Adam learning rate, CNN-BiLSTM")
    max_train_windows: int = option(
        50_000,
        "train the CNN-BiLSTM on at most this many evenly spaced training "
        "windows (the report says so when it applies); 2 CPU cores cannot fit it on "
        "millions",
    )
    trend_k: int = option(DEFAULT_TREND_K, "readings the trend line is fitted to")
    plot_points: int = option(500, "test windows shown in predictions.png")
    house: HouseOptions = option(default_factory=HouseOptions, help="retraining on a recording")

    def __post_init__(self) -> None:
        if self.out_dir is None:
            object.__setattr__(self, "out_dir", HOUSE_OUT if is_recording(self.data) else DEFAULT_OUT)
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}, got {self.protocol!r}")
        if self.resample not in PAPER_SEQ_LEN:
            raise ValueError(f"resample must be one of {list(PAPER_SEQ_LEN)}, got {self.resample!r}")
        unknown = set(self.models) - set(MODELS)
        if unknown or not self.models:
            raise ValueError(f"unknown models {sorted(unknown)}; known: {MODELS}")

    @property
    def output_dir(self) -> Path:
        """``out_dir`` as :meth:`__post_init__` resolved it (the default for the data when not given)."""
        if self.out_dir is None:
            raise ValueError("out_dir is resolved when the config is made; it cannot be None here")
        return Path(self.out_dir)

    @property
    def split(self) -> SplitSpec:
        return SplitSpec(
            self.data,
            self.protocol,
            self.resample,
            self.fill_policy,
            self.subset_fraction,
            self.subset_min_rows,
            self.train_fraction,
            self.cut_date,
            self.seed,
        )

    @property
    def window_length(self) -> int:
        if self.seq_len is not None:
            return self.seq_len
        return DEFAULT_SEQ_LEN if self.protocol == "notebook" else PAPER_SEQ_LEN[self.resample]

    @property
    def window_horizon(self) -> int:
        if self.horizon is not None:
            return self.horizon
        return DEFAULT_HORIZON if self.protocol == "notebook" else 1

    def learning_rate(self, model: str) -> float:
        return {
            "seed_lstm": self.lr_seed_lstm,
            "augmented_lstm": self.lr_augmented_lstm,
            "cnn_bilstm": self.lr_cnn_bilstm,
        }[model]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the resolved window length and horizon."""
        d = _plain(asdict(self))
        d.update(seq_len=self.window_length, horizon=self.window_horizon, models=list(self.models))
        return d


def _plain(value: Any) -> Any:
    """``value`` with paths and enums as JSON takes them (nested dicts too)."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return str(value) if isinstance(value, Path) else value.value if isinstance(value, FillPolicy) else value
