"""The one configuration of a training run (``python -m train``); written into the report so a run can be repeated."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from device.contract import DEFAULT_HORIZON, DEFAULT_SEQ_LEN, MEASUREMENTS, TARGET, FillPolicy
from device.families.baselines import DEFAULT_TREND_K
from train.data import DEFAULT_DATA
from train.splits import PAPER_CUT_DATE, SUBSET_FRACTION, SUBSET_MIN_ROWS, TRAIN_FRACTION

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
class TrainConfig:
    """Everything a run depends on. ``seq_len``/``horizon`` of None mean the protocol's default."""

    data: Path = DEFAULT_DATA
    out_dir: Path = Path("runs/latest")
    protocol: str = "notebook"
    resample: str = "1min"
    seq_len: int | None = None  # notebook: DEFAULT_SEQ_LEN; paper: PAPER_SEQ_LEN[resample]
    horizon: int | None = None  # notebook: DEFAULT_HORIZON; paper: 1
    fill_policy: FillPolicy = FillPolicy.FORWARD_FILL
    subset_fraction: float = SUBSET_FRACTION
    subset_min_rows: int = SUBSET_MIN_ROWS
    train_fraction: float = TRAIN_FRACTION
    cut_date: str = PAPER_CUT_DATE
    models: tuple[str, ...] = MODELS
    epochs: int = 100
    batch_size: int = 500
    patience: int = 10
    validation_split: float = 0.05
    lr_seed_lstm: float = 0.01
    lr_augmented_lstm: float = 0.001
    lr_cnn_bilstm: float = 0.001
    max_train_windows: int = 50_000  # CNN-BiLSTM only: an evenly spaced subsample when there are more
    trend_k: int = DEFAULT_TREND_K
    seed: int = 0
    calibration_windows: int = 1000
    handover_test_windows: int = 2000
    plot_points: int = 500

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}, got {self.protocol!r}")
        if self.resample not in PAPER_SEQ_LEN:
            raise ValueError(f"resample must be one of {list(PAPER_SEQ_LEN)}, got {self.resample!r}")
        unknown = set(self.models) - set(MODELS)
        if unknown or not self.models:
            raise ValueError(f"unknown models {sorted(unknown)}; known: {MODELS}")

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
        return {"seed_lstm": self.lr_seed_lstm, "augmented_lstm": self.lr_augmented_lstm,
                "cnn_bilstm": self.lr_cnn_bilstm}[model]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, with the resolved window length and horizon."""
        d = {k: (str(v) if isinstance(v, Path) else v.value if isinstance(v, FillPolicy) else v)
             for k, v in asdict(self).items()}
        d.update(seq_len=self.window_length, horizon=self.window_horizon, models=list(self.models))
        return d
