"""The day-ahead series model ``series_next_day``: 48 half-hour means (the next 24 hours) with P10/P50/P90 each,
trained and scored by :mod:`train.series` on the same split and protocol as the next hour, next to the same baselines.

Its inputs are the contract's series inputs at 30-minute steps: the last 12 hours in half-hour means, each forecast
half-hour yesterday and its mean over the last 7 days, the newest reading, and the hour of day and day of week of the
newest reading. Training windows are taken one in ``--train-every`` minutes (neighbours share all but a few minutes
of their day); every test window is scored.

Run ``python -m train.day_ahead --help``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from device.contract import CALENDAR_FEATURES
from device.options import build_parser as build_options_parser
from device.options import option, parse_options
from train.series import SeriesConfig, run

MODEL_NAME = "series_next_day"
COMMAND = "python -m train.day_ahead"


@dataclass(frozen=True)
class DayAheadConfig(SeriesConfig):
    """The next day's defaults over :class:`train.series.SeriesConfig`'s options."""

    name: str = option(MODEL_NAME, "the model's name (its file and manifest entry)")
    out: Path = option(Path("docs/series_day_ahead"), "where table.md and results.json go")
    step_minutes: int = option(30, "minutes per forecast step")
    steps: int = option(48, "forecast steps")
    calendar: tuple[str, ...] = option(
        ("hour_sin", "hour_cos", "dow_sin", "dow_cos"),
        "calendar features of the newest reading among the inputs",
        choices=CALENDAR_FEATURES,
    )
    train_every: int = option(5, "take one training window in this many minutes (all test windows are scored)")


def main(argv: list[str] | None = None) -> None:
    parser = build_options_parser(DayAheadConfig, COMMAND, __doc__.split("\n\n")[0])
    config = parse_options(DayAheadConfig, argv, parser)
    run(config, COMMAND)
    print((Path(config.out) / "table.md").read_text())


if __name__ == "__main__":
    main()
