"""``python -m train``: train and evaluate the reference models, write the report and the hand-over files; or, given an
agent's recording, retrain the shipped microcontroller model on that house (:mod:`train.house`)."""

from __future__ import annotations

import argparse

from device.options import build_parser as build_options_parser
from device.options import parse_options
from train.config import TrainConfig
from train.pipeline import run
from train.recording import is_recording

DESCRIPTION = """Train the seed work's models (persistence, trend line, least squares, seed LSTM, augmented LSTM,
CNN-BiLSTM) on real household power data and evaluate them on a chronological test part. Writes report.md,
report.json, predictions.png, loss_curves.png and models/ (the files `python -m convert.quantize` reads) to --out.

Given an agent's recording (--data DIR from `device/agent.py --record DIR`), it instead retrains the shipped
microcontroller model on that house (the options marked 'a recording'): refuses too short a history, trains the
shipped architecture and least squares on the inputs the recording has with the last --test-days held out, hands
both over to --out/models, and compares the shipped and the retrained model on the held-out days, int8 both
(report.md, report.json). Ship it with the command the report ends with."""


def build_parser() -> argparse.ArgumentParser:
    return build_options_parser(TrainConfig, "python -m train", DESCRIPTION)


def retrain_house(config: TrainConfig, parser: argparse.ArgumentParser) -> None:
    """Retrain, then compare int8 against the shipped model. The command line is where the two stages meet: the
    training modules never import convert, and convert.house only reads the hand-over this has just written."""
    from convert.house import side_by_side  # LiteRT and the converter load only for a recording
    from train.house import RecordingRefused, retrain, ship_command, write_report

    try:
        house = retrain(config)
    except RecordingRefused as refused:
        parser.exit(1, f"{parser.prog}: error: {refused}\n")
    compared = side_by_side(house.models_dir, house.member.name, config.house.assets, config.house.shipped)
    report = write_report(house, config, compared.table(), compared.to_dict())
    print(compared.table())
    print(f"\n{compared.summary()}")
    for note in compared.notes:
        print(f"- {note}")
    print(f"Report: {report}\nShip it: {ship_command(house)}")


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    config = parse_options(TrainConfig, argv, parser)
    if is_recording(config.data):
        retrain_house(config, parser)
        return
    result = run(config)
    print(result["table"])
    print(f"Report: {result['report']}")


if __name__ == "__main__":
    main()
