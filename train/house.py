"""Retraining on the user's own house: ``python -m train --data RECORDING``.

The agent's recording (``--record DIR``, :mod:`device.recording_format`) is one meter's history as the agent saw it.
This trains the shipped microcontroller architecture (:data:`train.mcu_models.SHIPPED`: its units and residual) on
the inputs the recording has (a plug without sub-meters: the reading and the calendar) and least squares on the same
inputs, holding out the last ``--test-days`` days, and hands both over exactly as ``train.search`` does, so
``python -m convert.quantize --mcu-model … --add --mcu-name …`` ships them. Too short a history is refused with
what there is and what is needed, rather than trained into a model that never saw a whole week.

The recording is copied into ``--out`` (``recording/``) and trained from there: the agent keeps appending to it and
drops old days, while the converter rebuilds the held-out days from the split the hand-over records, which must
stay the data the model was trained on.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from device.contract import CALENDAR_FEATURES, TARGET, FillPolicy
from device.models.families.baselines import Persistence
from device.recording_format import METER_FILE, meter_folder
from train.artifacts import COPIED_FROM
from train.config import HandoverOptions, HouseOptions, TrainConfig
from train.data import RecordingExtent, Split, SplitSpec, load_split, recording_extent
from train.evaluate import Evaluation, evaluate
from train.mcu_models import DOW, HOUR, SHIPPED, SUBMETERS, McuConfig, candidate
from train.recording import day_files
from train.search import least_squares_row, train_candidate
from train.window_cache import WindowsByFeatures

log = logging.getLogger(__name__)
SNAPSHOT = "recording"
#: What ``python -m convert.quantize --mcu-name`` the report suggests.
SHIP_AS = "mcu_lstm_house"


class RecordingRefused(ValueError):
    """The recording cannot be trained on (too short, or not one meter's recording); the message says why and what
    to do."""


@dataclass(frozen=True)
class HouseFit(HandoverOptions):
    """What :func:`train.search.train_candidate` and :func:`train.pipeline.hand_over` read: the search's training
    knobs, on the recording's split."""

    split: SplitSpec = field(default_factory=SplitSpec)
    epochs: int = 0
    patience: int = 0
    batch_size: int = 0
    learning_rate: float = 0.0

    @classmethod
    def of(cls, config: TrainConfig, split: SplitSpec) -> HouseFit:
        house = config.house
        return cls(
            **{f.name: getattr(config, f.name) for f in fields(HandoverOptions)},
            split=split,
            epochs=house.house_epochs,
            patience=house.house_patience,
            batch_size=house.house_batch_size,
            learning_rate=house.house_learning_rate,
        )


@dataclass
class HouseRun:
    """What retraining wrote and measured (float), for the report and the int8 side by side."""

    extent: RecordingExtent  # of the copy trained on
    copied_from: Path
    split: Split
    fit: HouseFit
    models_dir: Path
    member: McuConfig  # the retrained LSTM, handed over under member.name
    least_squares: str  # its least-squares twin's hand-over name
    rows: list[Evaluation]  # float: persistence, least squares, the LSTM


def check_history(extent: RecordingExtent, options: HouseOptions) -> None:
    """Raise :class:`RecordingRefused` saying how much history there is and how much is needed, if too little."""
    if extent.days >= options.min_days and extent.real_days >= options.min_real_days:
        return
    more = max(options.min_days - extent.days, options.min_real_days - extent.real_days)
    raise RecordingRefused(
        f"the recording of meter {extent.meter} ({extent.folder}) holds {_floor(extent.days)} days, "
        f"{_floor(extent.real_days)} of them real minutes; retraining needs {options.min_days:g} days and "
        f"{options.min_real_days:g} days of real minutes: keep the agent recording for ~{math.ceil(more)} more days"
    )


def _floor(days: float) -> str:
    """Days to one decimal, rounded down, so a history just short of the minimum never reads as enough."""
    return f"{math.floor(days * 10) / 10:.1f}"


def snapshot(path: Path, out: Path) -> Path:
    """Copy the meter's day files (and its ``meter.json``) at ``path`` to ``out/recording/<meter folder>``, replacing
    an earlier copy; returns that folder."""
    meter, files = day_files(path)
    target = Path(out) / SNAPSHOT / meter_folder(meter)
    if Path(path).resolve().is_relative_to(target.parent.resolve()):
        raise RecordingRefused(
            f"{path} is the copy an earlier run made in {out}: pass the agent's recording (its "
            f"copy is replaced), or another --out"
        )
    shutil.rmtree(target.parent, ignore_errors=True)
    target.mkdir(parents=True)
    for file in [*files, files[0].parent / METER_FILE]:
        if file.is_file():
            shutil.copyfile(file, target / file.name)
    return target


def house_member(available: tuple[str, ...]) -> McuConfig:
    """The shipped candidate's units and residual on the inputs the recording has: the calendar always (it comes
    from the timestamp), a measurement only if the meter sends it."""
    shipped = candidate(SHIPPED)
    features = tuple(f for f in shipped.features if f in CALENDAR_FEATURES or f in available)
    return replace(
        shipped,
        name=f"house_{'res' if shipped.residual else 'lstm'}{shipped.units}_{_tag(features)}",
        features=features,
    )


def _tag(features: tuple[str, ...]) -> str:
    """``hour_dow_sm`` for the search's input groups (the reading, always first, is not named)."""
    groups = {"hour": HOUR, "dow": DOW, "sm": SUBMETERS}
    named = [g for g, members in groups.items() if set(members) & set(features)]
    others = [f for f in features[1:] if not any(f in members for members in groups.values())]
    return "_".join(named + others)


def history(path: Path, options: HouseOptions) -> RecordingExtent:
    """The extent of the recording at ``path``, or :class:`RecordingRefused` if it is not one meter's recording or
    holds too little history."""
    try:
        extent = recording_extent(path)
    except ValueError as error:  # no recording there, several meters, no complete line
        raise RecordingRefused(str(error)) from error
    check_history(extent, options)
    return extent


def retrain(config: TrainConfig) -> HouseRun:
    """Check the history, copy it to ``--out``, train the LSTM and least squares on it and hand both over to
    ``--out``/models."""
    options, out = config.house, config.output_dir
    history(config.data, options)
    copy = snapshot(config.data, out)
    fit = HouseFit.of(
        config,
        SplitSpec(
            copy, protocol="recent", fill_policy=config.fill_policy, test_days=options.test_days, seed=config.seed
        ),
    )
    split = load_split(fit.split)
    log.info("%s", split.description)
    member = house_member(split.series.available)
    windows = WindowsByFeatures(split, member.seq_len, member.horizon, config.fill_policy)(member.features)
    models_dir = out / "models"
    least_squares = f"linreg_{TARGET}_{_tag(member.features)}"
    persistence = evaluate("persistence", Persistence(windows.spec).predict, windows)
    persistence.features = (TARGET,)  # it reads the last reading only
    rows = [
        persistence,
        least_squares_row(least_squares, windows, fit, models_dir),
        train_candidate(member, windows, fit, models_dir, extra={COPIED_FROM: str(config.data)}),
    ]
    extent = recording_extent(copy)
    log.info("%s: retrained on %s (meter %s), handed over to %s", member.name, copy, extent.meter, models_dir)
    return HouseRun(extent, Path(config.data), split, fit, models_dir, member, least_squares, rows)


def _utc(minutes) -> str:
    first, last = (str(np.datetime64(int(m), "m")).replace("T", " ") for m in (minutes[0], minutes[-1]))
    return f"{first} to {last} UTC"


def ship_command(run: HouseRun) -> str:
    return f"python -m convert.quantize --mcu-model {run.models_dir / run.member.name} --add --mcu-name {SHIP_AS}"


def _training_table(rows: list[Evaluation]) -> str:
    lines = [
        "| model | inputs | parameters | MSE (kW²) | RMSE (kW) | MAE (kW) | epochs (best) | train s |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        epochs = f"{r.epochs_run} ({r.best_epoch})" if r.epochs_run else "–"
        seconds = f"{r.train_seconds:.0f}" if r.train_seconds else "–"
        lines.append(
            f"| {r.name} | {'+'.join(r.features)} | {r.parameters:,} | {r.test['mse']:.4f} | "
            f"{r.test['rmse']:.4f} | {r.test['mae']:.4f} | {epochs} | {seconds} |"
        )
    return "\n".join(lines)


def write_report(run: HouseRun, config: TrainConfig, table: str, side_by_side: dict[str, Any]) -> Path:
    """``report.md`` and ``report.json`` in ``--out``: the recording, the split, the int8 side by side
    (``table``/``side_by_side`` from :mod:`convert.house`), the float training figures and the command that ships
    the model. Returns the Markdown path."""
    out, e, series = config.output_dir, run.extent, run.split.series
    test = run.split.test
    filled = int(series.missing[test].sum())
    recording = {**e.to_dict(), COPIED_FROM: str(run.copied_from)}
    scored = (
        "every window or target touching one is dropped (--fill-policy drop)"
        if config.fill_policy is FillPolicy.DROP
        else "forward-filled as the agent fills them, they are scored like the others (--fill-policy drop leaves "
        "them out)"
    )
    held_out = (
        f"{filled:,} of the {test.stop - test.start:,} held-out minutes were filled (no real reading): {scored}."
        if filled
        else "Every held-out minute is a real reading."
    )
    markdown = "\n".join(
        [
            f"# Retrained on the house of meter {e.meter}",
            "",
            f"Recording: `{run.copied_from}`, copied to `{e.folder}` (fingerprint `{e.fingerprint[:16]}…`): "
            f"{_utc([e.first_minute, e.last_minute])}, {e.days:.1f} days, {e.real_days:.1f} of them real minutes "
            f"({e.real_minutes:,}).",
            f"Split: {run.split.description} Training {_utc(series.minutes[run.split.train])}; held out "
            f"{_utc(series.minutes[test])}. {held_out}",
            f"Fill: {run.split.fill.describe()}.",
            f"Model: the shipped architecture ({SHIPPED}: LSTM({run.member.units}), "
            f"{'residual' if run.member.residual else 'no residual'}) on {'+'.join(run.member.features)}, "
            f"{run.member.seq_len} readings forecasting {run.member.horizon} minutes after the last; "
            f"up to {run.fit.epochs} epochs (patience {run.fit.patience}), batch {run.fit.batch_size}, learning rate "
            f"{run.fit.learning_rate:g}, seed {run.fit.seed}.",
            "",
            f"## Side by side on the held-out {config.house.test_days} days (int8 both)",
            "",
            table,
            "",
            side_by_side["summary"],
            "",
            *[f"- {note}\n" for note in side_by_side["notes"]],
            "Every full window of the held-out days; int8 files run under LiteRT with the agent's own predictor (state "
            "reset before every window), the shipped one with its own scaling and inputs computed over this recording.",
            "",
            "## Training (float, the same windows)",
            "",
            _training_table(run.rows),
            "",
            "## Ship it",
            "",
            "```sh",
            ship_command(run),
            "```",
            "",
            "The agent serves every model of its manifest (its default `--models`): after this it forecasts with "
            f"`{SHIP_AS}` and its least-squares twin beside the shipped models, once it reloads (SIGHUP, or on its own "
            "when manifest.json changes).",
            "",
        ]
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.md").write_text(markdown)
    document = {
        "recording": recording,
        "split": run.fit.split.to_dict(),
        "split_description": run.split.description,
        "fill": run.split.fill.describe(),
        "held_out_filled_minutes": filled,
        "config": config.to_dict(),
        "training": [r.summary() for r in run.rows],
        "side_by_side": side_by_side,
        "ship": ship_command(run),
    }
    (out / "report.json").write_text(json.dumps(document, indent=2) + "\n")
    return out / "report.md"
