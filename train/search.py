"""The microcontroller search: train each candidate of :mod:`train.mcu_models` on the whole file, score it next to
persistence and least squares on the same features, and write one table plus the error-vs-size plots.

Protocols: ``fraction`` (the issue's: forward-filled series, chronological 80/20 split of the whole file) or
``paper`` (train before 2009-12-16, test from it on). Windows are cut inside each part and scaled with the training
part's min/max (:mod:`train.windows`); the last 5% of the training windows are the chronological validation tail
for early stopping (:mod:`train.fit`). Every trained candidate is handed over as a :mod:`train.artifacts` folder,
so ``convert`` turns it into int8 later, in another process.

Run ``python -m train.search --help``.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
from tqdm import tqdm

from device.contract import CALENDAR_FEATURES, DEFAULT_HORIZON, DEFAULT_SEQ_LEN, TARGET, WindowSpec
from device.energy import MCU_SEARCH_BUDGET, Budget
from device.models.families.baselines import Persistence
from device.models.families.linreg import LinearRegression
from device.options import build_parser as build_options_parser
from device.options import option, parse_options
from train.config import HandoverOptions, SplitHandover
from train.data import DEFAULT_DATA, PAPER_CUT_DATE, RULE_MINUTES, TRAIN_FRACTION, SplitSpec, load_split
from train.evaluate import Evaluation, evaluate
from train.mcu_models import (
    CANDIDATES,
    DOW,
    HOUR,
    SEARCH_TRAINING,
    SUBMETERS,
    WIDER,
    McuConfig,
    build_model,
    candidate,
)
from train.pipeline import hand_over
from train.search_report import (
    SearchRow,
    markdown_table,
    pick_winner,
    plot_error_vs_energy,
    plot_error_vs_size,
)
from train.window_cache import WindowsByFeatures
from train.windows import SplitWindows

if TYPE_CHECKING:  # train.fit imports TensorFlow; _typeshed exists for type checkers only
    from _typeshed import DataclassInstance

    from train.fit import FitResult, FitSettings

log = logging.getLogger(__name__)
PROTOCOLS = ("fraction", "paper")
#: Least squares gets the reading alone, the hour too, and each candidate's sub-meter inputs, so the comparison
#: stays fair.
#: Each is handed over under its key, so ``convert`` can ship the one on a candidate's own inputs.
BASELINE_FEATURES: dict[str, tuple[str, ...]] = {
    "linreg_gap": (TARGET,),
    "linreg_gap_hour": (TARGET, *HOUR),
    "linreg_gap_hour_sm": (TARGET, *HOUR, *SUBMETERS),
    "linreg_gap_hour_dow_sm": (TARGET, *HOUR, *DOW, *SUBMETERS),
}
#: Settings that change a row's numbers: rows of an earlier run in the same ``out_dir`` are kept only if all match.
COMPARABLE = (
    "data",
    "protocol",
    "resample",
    "seq_len",
    "horizon",
    "epochs",
    "batch_size",
    "learning_rate",
    "patience",
    "train_fraction",
    "cut_date",
    "validation_split",
    "seed",
    "max_train_seconds",
)
#: What a run recorded before a COMPARABLE setting existed ran as: older results.json files read as these.
BEFORE_RECORDED = {"max_train_seconds": 0.0}


@dataclass(frozen=True)
class SearchConfig(HandoverOptions):
    """Everything one search run depends on; written next to its results (``--help`` is generated from it)."""

    data: Path = option(
        DEFAULT_DATA, "raw UCI file (.txt or .zip); the full file gives the issue's numbers", exists=True
    )
    out_dir: Path = option(
        Path("runs/search"), "where results.json, table.md, the PNGs and models/ (the hand-over folders) go"
    )
    protocol: str = option(
        "fraction",
        "fraction: chronological --train-fraction split of the whole file (the "
        "issue's); paper: train before --cut-date, test from it on (Le et al. 2019)",
        choices=PROTOCOLS,
    )
    resample: str = option(
        "1min",
        "average the series over calendar blocks first (1h with --seq-len 24 --horizon 1 "
        "is the paper's hourly protocol)",
        choices=tuple(RULE_MINUTES),
    )
    seq_len: int = option(DEFAULT_SEQ_LEN, "readings per input window")
    horizon: int = option(
        DEFAULT_HORIZON,
        f"how many rows after the window's last reading the target is ({DEFAULT_HORIZON} = the issue; 1 = the paper)",
    )
    candidates: tuple[str, ...] = option(
        tuple(c.name for c in CANDIDATES),
        "which members of train.mcu_models to "
        "train (none: the baselines only, e.g. to refresh them next to candidates "
        "trained earlier into the same --out-dir)",
        choices=tuple(c.name for c in (*CANDIDATES, *WIDER)),
    )
    epochs: int = option(SEARCH_TRAINING.epochs, "maximum epochs per candidate")
    batch_size: int = option(SEARCH_TRAINING.batch_size, "training batch size")
    learning_rate: float = option(SEARCH_TRAINING.learning_rate, "Adam learning rate")
    patience: int = option(
        SEARCH_TRAINING.patience,
        "epochs without a better validation loss before stopping (the best checkpoint is kept)",
    )
    train_fraction: float = option(TRAIN_FRACTION, "share of the rows to train on (fraction protocol)")
    cut_date: str = option(PAPER_CUT_DATE, "first test day (paper protocol)")
    max_train_seconds: float = option(
        0.0, "stop a candidate's training before an epoch that would end past this many seconds (0: no bound)"
    )
    budget: Budget = option(MCU_SEARCH_BUDGET, cli=False)

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}, got {self.protocol!r}")

    @property
    def split(self) -> SplitSpec:
        return SplitSpec(
            self.data,
            self.protocol,
            self.resample,
            train_fraction=self.train_fraction,
            cut_date=self.cut_date,
            seed=self.seed,
        )


def member(name: str, config: SearchConfig) -> McuConfig:
    """The named candidate, on this run's window length and horizon."""
    return replace(candidate(name), seq_len=config.seq_len, horizon=config.horizon)


def as_row(evaluation: Evaluation, kind: str, macs: int) -> SearchRow:
    return SearchRow(
        evaluation.name,
        "+".join(evaluation.features),
        evaluation.parameters,
        macs,
        evaluation.test["mse"],
        evaluation.test["mae"],
        kind=kind,
        epochs=evaluation.epochs_run or None,
        train_seconds=evaluation.train_seconds or None,
    )


def least_squares(spec: WindowSpec, x: np.ndarray, y: np.ndarray) -> LinearRegression:
    """Least squares on every lag of the measurements and on the last step of the calendar features only.

    Older calendar lags are exact linear combinations of the last one (sin/cos of a shifted angle, then min-max
    scaled), so fitting them too adds no information but makes the problem ill-conditioned: coefficients of about 1e4
    that cancel on full windows and explode on the agent's zero-padded start-up windows. The older calendar lags get
    zero weights, so the file keeps the usual one-weight-per-lag-and-feature layout.
    """
    calendar = [i for i, f in enumerate(spec.features) if f in CALENDAR_FEATURES]
    if not calendar:
        return LinearRegression.fit(spec, x, y)
    x = x.copy()
    x[:, :-1, calendar] = 0.0
    fitted = LinearRegression.fit(spec, x, y)
    coef = fitted.coef.reshape(spec.seq_len, spec.n_features).copy()
    coef[:-1, calendar] = 0.0  # lstsq leaves ~1e-17 on the zeroed columns; on real inputs they must be exactly 0
    return LinearRegression(spec, coef.reshape(-1), fitted.intercept)


def baseline_rows(windows_for: WindowsByFeatures, config: SearchConfig, models_dir: Path) -> list[SearchRow]:
    """Persistence, and least squares on every lag of each baseline feature set (closed form, seconds), each least
    squares handed over like a candidate."""
    rows = []
    for handover_name, features in tqdm(BASELINE_FEATURES.items(), desc="baselines", unit="fit", disable=None):
        windows = windows_for(features)
        if features == (TARGET,):
            rows.append(as_row(evaluate("persistence", Persistence(windows.spec).predict, windows), "persistence", 0))
        evaluation = least_squares_row(handover_name, windows, config, models_dir)
        rows.append(as_row(evaluation, "linreg", evaluation.parameters - 1))
    return rows


def least_squares_row(handover_name: str, windows: SplitWindows, config: SplitHandover, models_dir: Path) -> Evaluation:
    """Least squares on every lag of ``windows``' inputs (closed form), scored and handed over as ``handover_name``
    (a ``linreg_*`` name: ``convert`` ships the one on a candidate's own inputs beside it). ``config`` also gives the
    hand-over its ``split``."""
    spec = windows.spec
    linreg = least_squares(spec, windows.x_train, windows.y_train)
    evaluation = evaluate(
        f"least squares ({'+'.join(spec.features)})", linreg.predict, windows, parameters=linreg.coef.size + 1
    )
    hand_over(models_dir, handover_name, windows, evaluation, config, extra=linreg.to_dict())
    log.info("%s: test MSE %.4f", evaluation.name, evaluation.test["mse"])
    return evaluation


def candidate_row(mcu: McuConfig, windows: SplitWindows, config: SearchConfig, models_dir: Path) -> SearchRow:
    """Train, score and hand over one candidate (:func:`train_candidate`): its row of the table."""
    bound = config.max_train_seconds or None
    return as_row(train_candidate(mcu, windows, config, models_dir, max_seconds=bound), "lstm", mcu.macs)


def fit_member(
    mcu: McuConfig, name: str, windows: SplitWindows, settings: FitSettings, checkpoint: Path
) -> tuple[FitResult, Evaluation]:
    """Train a member of the family on ``windows``' training part (:func:`train.fit.train_keras_model`, best
    checkpoint at ``checkpoint``) and score it on their test part (:func:`train.evaluate.evaluate`), the training
    figures (seconds, epochs, losses) on the evaluation."""
    from train.fit import train_keras_model  # TensorFlow loads only when a network is trained

    fit = train_keras_model(
        name, mcu.window, windows.x_train, windows.y_train, settings, checkpoint, build=lambda spec: build_model(mcu)
    )
    evaluation = evaluate(name, fit.predict, windows, parameters=mcu.parameters)
    evaluation.train_seconds, evaluation.epochs_run, evaluation.best_epoch = (
        fit.train_seconds,
        fit.epochs_run,
        fit.best_epoch,
    )
    evaluation.loss, evaluation.val_loss = fit.loss, fit.val_loss
    return fit, evaluation


class CandidateTraining(SplitHandover, Protocol):
    """What training a candidate reads of a configuration beside the hand-over's: the search's training knobs
    (:class:`SearchConfig`, :class:`train.house.HouseFit`)."""

    @property
    def learning_rate(self) -> float: ...
    @property
    def epochs(self) -> int: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def patience(self) -> int: ...


def train_candidate(
    mcu: McuConfig,
    windows: SplitWindows,
    config: CandidateTraining,
    models_dir: Path,
    extra: dict | None = None,
    max_seconds: float | None = None,
) -> Evaluation:
    """Train with :func:`train.fit.train_keras_model`, score with :func:`train.evaluate.evaluate`, hand over as
    ``mcu.name`` (with ``extra`` in its JSON). ``config`` gives the training knobs and the hand-over its ``split``;
    ``max_seconds`` bounds the training (:class:`train.fit.TimeBudget`)."""
    from train.fit import FitSettings  # TensorFlow loads only when a network is trained

    settings = FitSettings(
        config.learning_rate,
        config.epochs,
        config.batch_size,
        config.patience,
        config.validation_split,
        config.seed,
        max_seconds,
    )
    fit, evaluation = fit_member(mcu, mcu.name, windows, settings, models_dir / f"{mcu.name}.keras")
    hand_over(
        models_dir,
        mcu.name,
        windows,
        evaluation,
        config,
        keras_path=fit.checkpoint,
        extra={
            "macs": mcu.macs,
            "units": mcu.units,
            "residual": mcu.residual,
            "learning_rate": config.learning_rate,
            **(extra or {}),
        },
    )
    log.info(
        "%s: float test MSE %.4f after %d epochs (best %d), %.0f s",
        mcu.name,
        evaluation.test["mse"],
        fit.epochs_run,
        fit.best_epoch,
        fit.train_seconds,
    )
    return evaluation


def settings_of(config: DataclassInstance) -> dict:
    """The config as results.json records it."""
    return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(config).items()}


def config_of(settings: dict) -> SearchConfig:
    """The config back from what :func:`settings_of` recorded (``results.json``'s ``config``)."""
    known = {f.name for f in fields(SearchConfig)}  # older runs also recorded the energy model, now device.energy's
    return SearchConfig(
        **{
            **{k: v for k, v in settings.items() if k in known},
            "data": Path(settings["data"]),
            "out_dir": Path(settings["out_dir"]),
            "candidates": tuple(settings["candidates"]),
            "budget": Budget(**settings["budget"]),
        }
    )


def earlier_rows(config: SearchConfig) -> list[SearchRow]:
    """Rows of a previous run into the same ``out_dir`` with the same :data:`COMPARABLE` settings (so candidates
    can be trained one run at a time on a busy machine); none if there is no such run."""
    path = Path(config.out_dir) / "results.json"
    if not path.is_file():
        return []
    previous = json.loads(path.read_text())
    settings = settings_of(config)
    recorded = {**BEFORE_RECORDED, **previous["config"]}
    if any(recorded.get(k) != settings[k] for k in COMPARABLE):
        log.info("%s was made with other settings: its rows are not kept", path)
        return []
    return [SearchRow(**r) for r in previous["rows"]]


def merged(earlier: list[SearchRow], rows: list[SearchRow]) -> list[SearchRow]:
    """``earlier`` with rows of the same name replaced by this run's, then this run's new rows; baselines first."""
    fresh = {r.name: r for r in rows}
    kept = [fresh.pop(r.name, r) for r in earlier]
    return sorted(kept + [r for r in rows if r.name in fresh], key=lambda r: r.kind == "lstm")  # baselines first


def write_outputs(rows: list[SearchRow], config: SearchConfig) -> SearchRow | None:
    """results.json, table.md and the two PNGs in ``out_dir``; returns the winner (None until int8 figures exist)."""
    out = Path(config.out_dir)
    winner = pick_winner(rows, config.budget)
    settings = settings_of(config)
    (out / "results.json").write_text(
        json.dumps(
            {"config": settings, "rows": [r.to_dict() for r in rows], "winner": winner.name if winner else None},
            indent=2,
        )
        + "\n"
    )
    (out / "table.md").write_text(markdown_table(rows, winner))
    plot_error_vs_size(rows, out / "error_vs_size.png")
    plot_error_vs_energy(rows, out / "error_vs_energy.png")
    return winner


def run_search(config: SearchConfig) -> list[SearchRow]:
    """Baselines, then each candidate in turn; outputs are rewritten after every candidate, so a cut run still
    leaves a table of what finished. Rows of an earlier comparable run in ``out_dir`` are kept
    (:func:`earlier_rows`)."""
    Path(config.out_dir).mkdir(parents=True, exist_ok=True)
    earlier = earlier_rows(config)
    models_dir = Path(config.out_dir) / "models"
    windows_for = WindowsByFeatures(load_split(config.split), config.seq_len, config.horizon, keep=1)

    rows = baseline_rows(windows_for, config, models_dir)
    write_outputs(merged(earlier, rows), config)
    for name in tqdm(config.candidates, desc="candidates", unit="model", disable=None):
        mcu = member(name, config)
        rows.append(candidate_row(mcu, windows_for(mcu.features), config, models_dir))
        write_outputs(merged(earlier, rows), config)
    return merged(earlier, rows)


def build_parser() -> argparse.ArgumentParser:
    return build_options_parser(SearchConfig, "python -m train.search", __doc__.split("\n\n")[0])


def parse_args(argv: list[str] | None = None) -> SearchConfig:
    return parse_options(SearchConfig, argv, build_parser())


def main(argv: list[str] | None = None) -> None:
    config = parse_args(argv)
    run_search(config)
    print((Path(config.out_dir) / "table.md").read_text())


if __name__ == "__main__":
    main()
