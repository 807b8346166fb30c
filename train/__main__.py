"""``python -m train``: train and evaluate the reference models, write the report and the hand-over files."""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from device.contract import DEFAULT_HORIZON, DEFAULT_SEQ_LEN, FillPolicy
from train.config import MODELS, PAPER_SEQ_LEN, PROTOCOLS, TrainConfig
from train.data import RULE_MINUTES
from train.pipeline import run

DESCRIPTION = """Train the seed work's models (persistence, trend line, least squares, seed LSTM, augmented LSTM,
CNN-BiLSTM) on real household power data and evaluate them on a chronological test part. Writes report.md,
report.json, predictions.png, loss_curves.png and models/ (the files `python -m convert.quantize` reads) to --out."""


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Show defaults, except the None of options whose help already says what unset means."""

    def _get_help_string(self, action: argparse.Action) -> str:
        return action.help if action.default is None else super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    d = TrainConfig()
    p = argparse.ArgumentParser(prog="python -m train", description=DESCRIPTION, formatter_class=_HelpFormatter)
    p.add_argument("--data", type=Path, default=d.data,
                   help="UCI data: the raw .txt, the .zip holding it, or the notebook's cleaned CSV with a Datetime "
                        "column")
    p.add_argument("--out", type=Path, default=d.out_dir, help="output folder for the report, plots and models/")
    p.add_argument("--protocol", choices=PROTOCOLS, default=d.protocol,
                   help="notebook: a contiguous 1%% subset (at least --subset-min-rows), first 80%% train, rest test; "
                        "paper: train before --cut-date, test from it on")
    p.add_argument("--resample", choices=list(RULE_MINUTES), default=d.resample,
                   help="average the series over minutes, hours, days or weeks before windowing")
    p.add_argument("--seq-len", type=int, default=None,
                   help=f"readings per input window; unset: {DEFAULT_SEQ_LEN} for notebook, and for paper by --resample "
                        f"{', '.join(f'{k}: {v}' for k, v in PAPER_SEQ_LEN.items())}")
    p.add_argument("--horizon", type=int, default=None,
                   help=f"steps after the last input that the target is; unset: {DEFAULT_HORIZON} for notebook, 1 for paper")
    p.add_argument("--fill-policy", choices=[f.value for f in FillPolicy], default=d.fill_policy.value,
                   help="ffill: forward-fill missing readings; drop: also forward-fill, but discard every window "
                        "and target touching a missing reading")
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(d.models), help="which models to run")
    p.add_argument("--epochs", type=int, default=d.epochs, help="maximum training epochs per network")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="training batch size")
    p.add_argument("--patience", type=int, default=d.patience,
                   help="stop after this many epochs without a better validation loss (the best checkpoint is kept)")
    p.add_argument("--validation-split", type=float, default=d.validation_split,
                   help="the most recent fraction of training windows used for early stopping")
    p.add_argument("--lr-seed-lstm", type=float, default=d.lr_seed_lstm, help="Adam learning rate, seed LSTM")
    p.add_argument("--lr-augmented-lstm", type=float, default=d.lr_augmented_lstm,
                   help="Adam learning rate, augmented LSTM")
    p.add_argument("--lr-cnn-bilstm", type=float, default=d.lr_cnn_bilstm, help="Adam learning rate, CNN-BiLSTM")
    p.add_argument("--max-train-windows", type=int, default=d.max_train_windows,
                   help="train the CNN-BiLSTM on at most this many evenly spaced training windows (the report says "
                        "so when it applies); 2 CPU cores cannot fit it on millions")
    p.add_argument("--subset-fraction", type=float, default=d.subset_fraction,
                   help="notebook protocol: fraction of the rows in the contiguous subset")
    p.add_argument("--subset-min-rows", type=int, default=d.subset_min_rows,
                   help="notebook protocol: the subset has at least this many rows (1%% of a small file is too few)")
    p.add_argument("--train-fraction", type=float, default=d.train_fraction,
                   help="notebook protocol: leading fraction of the subset used for training")
    p.add_argument("--cut-date", default=d.cut_date, help="paper protocol: first day of the test part (YYYY-MM-DD)")
    p.add_argument("--trend-k", type=int, default=d.trend_k, help="readings the trend line is fitted to")
    p.add_argument("--seed", type=int, default=d.seed,
                   help="seed for the subset, weight initialisation, shuffling and calibration windows")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"],
                   help="Python logging level")
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(
        data=args.data, out_dir=args.out, protocol=args.protocol, resample=args.resample, seq_len=args.seq_len,
        horizon=args.horizon, fill_policy=FillPolicy(args.fill_policy), subset_fraction=args.subset_fraction,
        subset_min_rows=args.subset_min_rows, train_fraction=args.train_fraction, cut_date=args.cut_date,
        models=tuple(args.models), epochs=args.epochs, batch_size=args.batch_size, patience=args.patience,
        validation_split=args.validation_split, lr_seed_lstm=args.lr_seed_lstm,
        lr_augmented_lstm=args.lr_augmented_lstm, lr_cnn_bilstm=args.lr_cnn_bilstm,
        max_train_windows=args.max_train_windows, trend_k=args.trend_k, seed=args.seed,
    )


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    result = run(config_from_args(args))
    print(result["table"])
    print(f"Report: {result['report']}")


if __name__ == "__main__":
    main()
