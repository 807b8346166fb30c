"""``python -m train``: train and evaluate the reference models, write the report and the hand-over files."""

from __future__ import annotations

import argparse

from device.options import build_parser as build_options_parser
from device.options import parse_options
from train.config import TrainConfig
from train.pipeline import run

DESCRIPTION = """Train the seed work's models (persistence, trend line, least squares, seed LSTM, augmented LSTM,
CNN-BiLSTM) on real household power data and evaluate them on a chronological test part. Writes report.md,
report.json, predictions.png, loss_curves.png and models/ (the files `python -m convert.quantize` reads) to --out."""


def build_parser() -> argparse.ArgumentParser:
    return build_options_parser(TrainConfig, "python -m train", DESCRIPTION)


def main(argv: list[str] | None = None) -> None:
    result = run(parse_options(TrainConfig, argv, build_parser()))
    print(result["table"])
    print(f"Report: {result['report']}")


if __name__ == "__main__":
    main()
